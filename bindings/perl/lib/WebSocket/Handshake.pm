package WebSocket::Handshake;

use strict;
use warnings;
use Scalar::Util ();
use URI;
use WebSocket::Request;
use WebSocket::Response;
use WebSocket::Version;
use parent 'WebSocket::Base';

our $VERSION = '0.01';

# Options of the constructors (each the method of that name, or a field).
our %OPTIONS = map { $_ => 1 } qw( debug fatal request response uri version );

sub new {
    my $class = shift;
    my @args  = @_ == 1 && ref $_[0] eq 'HASH' ? %{ $_[0] } : @_;
    return $class->_fail( -2, ( ref $class || $class ) . '->new: options come as pairs or a hash reference' ) if @args % 2;
    my %opts = @args;
    my $self = bless { debug => delete $opts{debug}, fatal => delete $opts{fatal} }, ref $class || $class;
    $self->_init( \%opts ) or return;
    return $self;
}

# Sets the options a class allows, request and response first.
sub _init {
    my ( $self, $opts ) = @_;
    my %ok = ( %OPTIONS, map { $_ => 1 } $self->_more_options );
    for my $key ( keys %$opts ) {
        return $self->_fail( -2, ref($self) . "->new: unknown option '$key'" ) unless $ok{$key};
    }
    for my $key (qw( request response )) {
        next unless defined $opts->{$key};
        defined $self->$key( delete $opts->{$key} ) or return;
    }
    $self->{request}  //= WebSocket::Request->new( debug => $self->{debug} );
    $self->{response} //= WebSocket::Response->new( debug => $self->{debug} );
    for my $key ( sort keys %$opts ) {
        next unless defined $opts->{$key};
        defined $self->$key( $opts->{$key} ) or return;
    }
    return $self;
}

sub _more_options { () }

sub request {
    my $self = shift;
    return $self->{request} unless @_;
    my $r = shift;
    return $self->_fail( -2, 'request: expects a WebSocket::Request' ) unless Scalar::Util::blessed($r) && $r->isa('WebSocket::Request');
    $self->{request} = $r;
    return $self;
}

sub response {
    my $self = shift;
    return $self->{response} unless @_;
    my $r = shift;
    return $self->_fail( -2, 'response: expects a WebSocket::Response' ) unless Scalar::Util::blessed($r) && $r->isa('WebSocket::Response');
    $self->{response} = $r;
    return $self;
}

# uri: that of the request.
sub uri {
    my $self = shift;
    return $self->{request}->uri unless @_;
    defined $self->{request}->uri(shift) or return $self->_pass( $self->{request}, 'uri' );
    return $self;
}

# version: a WebSocket::Version, that of the request and the response.
sub version {
    my $self = shift;
    return $self->{request}->version unless @_;
    my $v = shift;
    $v = WebSocket::Version->new($v) or return $self->_pass( 'WebSocket::Version', 'version' )
      unless Scalar::Util::blessed($v) && $v->isa('WebSocket::Version');
    $self->{request}->version($v);
    $self->{response}->version($v);
    return $self;
}

# A WebSocket::Frame (of the C library's codec), masked as the side needs.
sub make_frame {
    my $self = shift;
    my %args = @_ == 1 && ref $_[0] eq 'HASH' ? %{ $_[0] } : @_;
    delete @args{qw( debug version )};
    $args{masked} = $self->_masked unless exists $args{masked};
    require WebSocket::Frame;
    return WebSocket::Frame->new(%args);
}

sub _masked { 0 }

1;

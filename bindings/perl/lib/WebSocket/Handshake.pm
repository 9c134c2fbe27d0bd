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
    defined $self->{request}->uri(shift) or return $self->_pass( $self->{request} );
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

__END__

=head1 NAME

WebSocket::Handshake - the opening handshake: a request and its response

=head1 SYNOPSIS

    use WebSocket::Handshake;
    my $hs = WebSocket::Handshake->new || die( WebSocket::Handshake->error, "\n" );
    $hs->uri('ws://example.com/chat');
    print $hs->request->host, ' ', $hs->version, "\n";      # example.com 13

=head1 DESCRIPTION

The base of L<WebSocket::Handshake::Client> (which writes the request and
checks the answer) and L<WebSocket::Handshake::Server> (which checks the
request and writes the answer): a L<WebSocket::Request> and a
L<WebSocket::Response>. Errors follow the binding's model (C<undef>, and
C<error> on the object or the class).

=head1 CONSTRUCTOR

=head2 new( %options ), new( \%options )

Options: C<request>, C<response> (objects; new empty ones otherwise),
C<uri>, C<version>, C<debug>, C<fatal>, and those of the subclass.

=head1 METHODS

=head2 request( [$request] ), response( [$response] )

The L<WebSocket::Request> and the L<WebSocket::Response>.

=head2 uri( [$uri] )

The request's L<URI> (see L<WebSocket::Request/uri>): setting an absolute
one also sets the request's host and C<secure>.

=head2 version( [$version] )

The request's L<WebSocket::Version>; setting one (a number, a draft name
or an object) sets it on the request and the response.

=head2 make_frame( %args )

A new L<WebSocket::Frame> (the library's frame codec, so it needs
F<libwebsocket.so>) with these arguments, masked as this side must send
(a client masks, a server does not) unless C<masked> is given. C<debug>
and C<version> are accepted and ignored.

=cut

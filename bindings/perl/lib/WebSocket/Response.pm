package WebSocket::Response;

use strict;
use warnings;
use HTTP::Status ();
use Scalar::Util ();
use URI;
use parent 'WebSocket::Common';

our $VERSION = '0.01';

my @OPTIONS = qw( code status message key accept location versions );

sub new {
    my $class = shift;
    my $self  = bless {}, ref $class || $class;
    $self->_common_init;
    $self->{code} = 101;
    # new( [$code [, $status]] [, $headers [, $buffer]], %options or \%options )
    my %pos;
    $pos{code}   = shift if @_ && defined $_[0] && !ref $_[0] && $_[0] =~ /\A\d{3}\z/;
    $pos{status} = shift if exists $pos{code} && @_ % 2 && !ref $_[0];
    if ( @_ && ( ref $_[0] eq 'ARRAY' || Scalar::Util::blessed( $_[0] ) && $_[0]->isa('HTTP::Headers') ) ) {
        $pos{headers} = shift;
        $pos{buffer}  = shift if @_ && ref $_[0] ne 'HASH' && ( @_ % 2 || ( @_ == 2 && ref $_[1] eq 'HASH' ) );
    }
    my @args = @_ == 1 && ref $_[0] eq 'HASH' ? %{ $_[0] } : @_;
    return $class->_fail( -2, 'WebSocket::Response->new: options come as pairs or a hash reference' ) if @args % 2;
    $self->_init_options( \@OPTIONS, @args, %pos ) or return;
    return $self;
}

sub code {
    my $self = shift;
    return $self->{code} unless @_;
    my $c = shift;
    return $self->_fail( -2, "code: '" . ( $c // 'undef' ) . "' is not an HTTP status code" ) unless defined $c && $c =~ /\A[1-5]\d\d\z/;
    $self->{code} = 0 + $c;
    return $self;
}

# The reason phrase of the status line (Switching Protocols), by default the
# standard one of the code.
sub status {
    my $self = shift;
    return $self->{status} // HTTP::Status::status_message( $self->{code} ) // '' unless @_;
    $self->{status} = shift;
    return $self;
}
sub message { shift->status(@_) }

sub location { shift->_field( 'Sec-WebSocket-Location', @_ ) }

# key: the client's Sec-WebSocket-Key this response answers (not a header
# of the response); accept: the Sec-WebSocket-Accept value, the one
# received, or the one computed from key.
sub key {
    my $self = shift;
    return $self->{key} unless @_;
    $self->{key} = shift;
    return $self;
}

sub accept {
    my $self = shift;
    return $self->_field( 'Sec-WebSocket-Accept', @_ ) if @_;
    return $self->headers->header('Sec-WebSocket-Accept') // $self->accept_for_key( $self->{key} );
}

# The Set-Cookie values, as a WebSocket::Array; set from a string or an
# array reference.
sub cookies {
    my $self = shift;
    return WebSocket::Array->new( [ $self->headers->header('Set-Cookie') ] ) unless @_;
    my $v = shift;
    $self->headers->remove_header('Set-Cookie');
    $self->headers->push_header( 'Set-Cookie' => $_ ) for grep {defined} ref $v ? @$v : ($v);
    return $self;
}

# versions: the WebSocket::Version objects of a Sec-WebSocket-Version
# header (a server refusing a version lists those it speaks).
sub versions {
    my $self = shift;
    return $self->{versions} // WebSocket::Array->new( $self->version ) unless @_;
    my $v    = shift;
    my @list = ref $v eq 'ARRAY' || ( Scalar::Util::blessed($v) && $v->isa('WebSocket::Array') ) ? @$v : split /\s*,\s*/, "$v";
    my $all  = WebSocket::Array->new;
    for my $one (@list) {
        my $o = Scalar::Util::blessed($one) && $one->isa('WebSocket::Version') ? $one : WebSocket::Version->new($one);
        return $self->_pass( 'WebSocket::Version', 'versions' ) unless $o;
        $all->push($o);
    }
    $self->{versions} = $all;
    $self->{version}  = $all->first if $all->length;
    return $self;
}

sub uri {
    my $self = shift;
    if (@_) {
        my $v = shift;
        $self->{uri} = defined $v ? URI->new("$v") : undef;
        return $self;
    }
    return $self->{uri};
}

sub body_as_string { $_[0]->{buffer} }

sub as_string {
    my ( $self, $eol ) = @_;
    my $h = $self->headers;
    if ( $self->{code} == 101 ) {
        $h->header( Upgrade    => 'websocket' ) unless defined $h->header('Upgrade');
        $h->header( Connection => 'Upgrade' )   unless $h->has_token( Connection => 'upgrade' );
        my $accept = $self->accept;
        return $self->_fail( -2, 'as_string: a 101 answer needs the key of the request (key) or accept' ) unless defined $accept;
        $h->header( 'Sec-WebSocket-Accept' => $accept );
        $h->remove_header('Sec-WebSocket-Version');
        if ( $self->{subprotocol}->length ) {
            return $self->_fail( -2, 'as_string: a server answers with one subprotocol, not ' . $self->{subprotocol}->length )
              if $self->{subprotocol}->length > 1;
            $h->header( 'Sec-WebSocket-Protocol' => $self->{subprotocol}->first );
        }
        if ( $self->{extensions}->length ) {
            $h->header( 'Sec-WebSocket-Extensions' => join ', ', map {"$_"} $self->{extensions}->list );
        }
    }
    elsif ( $self->{versions} && $self->{versions}->length ) {
        $h->header( 'Sec-WebSocket-Version' => join ', ', map { $_->version } $self->{versions}->list );
    }
    return $self->_head_as_string( join( ' ', $self->{protocol}, $self->{code}, $self->status ), $eol );
}

sub _parse_first_line {
    my ( $self, $line ) = @_;
    return $self->_fail( -7, "parse: '$line' is not an HTTP status line" )
      unless $line =~ m{\A(HTTP/\d+\.\d+) ([1-5]\d\d)(?: (.*))?\z};
    @$self{qw( protocol code status )} = ( $1, 0 + $2, $3 // '' );
    return $self;
}

sub _parse_done {
    my $self = shift;
    my $h    = $self->{headers};
    if ( my @v = $h->header('Sec-WebSocket-Version') ) {
        defined $self->versions( join ', ', @v ) or return;
    }
    my $location = $h->header('Sec-WebSocket-Location') // $h->header('WebSocket-Location');
    if ( defined $location ) {
        $self->uri($location);
        $self->{secure} = 1 if $location =~ /\Awss:/i;
    }
    return $self->_parse_websocket_fields;
}

1;

__END__

=head1 NAME

WebSocket::Response - a WebSocket handshake response: build one, or parse one

=head1 SYNOPSIS

    use WebSocket::Response;
    my $res = WebSocket::Response->new(
        key         => 'dGhlIHNhbXBsZSBub25jZQ==',     # the request's Sec-WebSocket-Key
        subprotocol => 'chat',
    ) || die( WebSocket::Response->error, "\n" );
    print $res->as_string;
    # HTTP/1.1 101 Switching Protocols
    # Connection: Upgrade
    # Upgrade: websocket
    # Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
    # Sec-WebSocket-Protocol: chat

    # Parsing
    my $in = WebSocket::Response->new;
    $in->parse( $res->as_string ) || die $in->error, "\n";      # text read from a server
    print $in->code, ' ', $in->status, ' ', $in->accept, "\n";

    # Refusing a version
    print WebSocket::Response->new( 426, versions => 13 )->as_string;

=head1 DESCRIPTION

The server's opening handshake answer (RFC 6455 section 4.2.2), or any
other answer to an upgrade request. It inherits every method of
L<WebSocket::Common>.

=head1 CONSTRUCTOR

=head2 new( [$code [, $status]] [, $headers [, $buffer]], %options )

An optional status code (default 101) and reason phrase, optional headers
(array reference of pairs or L<HTTP::Headers>) and content, then options
(pairs or a hash reference), each set with the method of its name:
C<accept>, C<buffer>, C<code>, C<cookies>, C<extensions>, C<headers>,
C<host>, C<key>, C<location>, C<max_message_size>, C<message>, C<origin>,
C<protocol>, C<secure>, C<status>, C<subprotocol>, C<uri>, C<version>,
C<versions>, and C<debug> and C<fatal>.

=head1 METHODS

=head2 as_string( [$eol] )

The status line, the fields and the buffer. For a 101 it adds
C<Upgrade: websocket>, C<Connection: Upgrade>, C<Sec-WebSocket-Accept>
(C<accept>), the subprotocol (one at most) and the extensions; for
another code with C<versions>, C<Sec-WebSocket-Version> listing them.
C<undef> with C<error> for a 101 without key or accept, or with more than
one subprotocol.

=head2 parse( $text )

As in L<WebSocket::Common/parse>, from a status line
(C<HTTP/1.1 101 Switching Protocols>). It does not check the answer
against a request: L<WebSocket::Handshake::Client/parse> does.

=head2 code( [$code] )

The status code.

=head2 status( [$phrase] ), message

The reason phrase; by default the standard one of the code.

=head2 key( [$key] )

The request's C<Sec-WebSocket-Key> this answer is for (kept on the
object, not a field of the response).

=head2 accept( [$value] )

The C<Sec-WebSocket-Accept> field when there is one (parsed or set), else
the value computed from C<key>.

=head2 versions( [$versions] )

The versions of a C<Sec-WebSocket-Version> field as a L<WebSocket::Array>
of L<WebSocket::Version>; set from C<"13, 8">, a number or an array
reference. A server refusing a request's version lists those it speaks.

=head2 uri( [$uri] ), location( [$location] )

A L<URI> the response is about (set by L<WebSocket::Handshake::Server>
from the request, or parsed from a C<Sec-WebSocket-Location> field of the
old drafts), and that field.

=head2 cookies( [$cookies] )

The C<Set-Cookie> fields as a L<WebSocket::Array>; set from a string or an
array reference.

=head2 body_as_string

The content after the head.

=cut

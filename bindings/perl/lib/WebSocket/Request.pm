package WebSocket::Request;

use strict;
use warnings;
use Scalar::Util ();
use URI;
use parent 'WebSocket::Common';

our $VERSION = '0.01';

my @OPTIONS = qw( method key );

sub new {
    my $class = shift;
    my $self  = bless {}, ref $class || $class;
    $self->_common_init;
    $self->{method} = 'GET';
    # new( [$headers [, $buffer]], %options or \%options )
    my ( $headers, $buffer );
    if ( @_ && ( ref $_[0] eq 'ARRAY' || Scalar::Util::blessed( $_[0] ) && $_[0]->isa('HTTP::Headers') ) ) {
        $headers = shift;
        $buffer  = shift if @_ && ref $_[0] ne 'HASH' && ( @_ % 2 || ( @_ == 2 && ref $_[1] eq 'HASH' ) );
    }
    my @args = @_ == 1 && ref $_[0] eq 'HASH' ? %{ $_[0] } : @_;
    return $class->_fail( -2, 'WebSocket::Request->new: options come as pairs or a hash reference' ) if @args % 2;
    my %opts = @args;
    $opts{headers} = $headers if $headers;
    $opts{buffer}  = $buffer  if defined $buffer;
    $self->_init_options( \@OPTIONS, %opts ) or return;
    return $self;
}

sub method {
    my $self = shift;
    return $self->{method} unless @_;
    my $m = shift;
    return $self->_fail( -2, "method: '" . ( $m // 'undef' ) . "' is not an HTTP method" )
      unless defined $m && $m =~ /\A[!#\$%&'*+.^_`|~0-9A-Za-z-]+\z/;
    $self->{method} = uc $m;
    return $self;
}

sub key  { shift->_field( 'Sec-WebSocket-Key',  @_ ) }

# The Sec-WebSocket-Accept value a server must answer this request's key with.
sub accept { $_[0]->accept_for_key( $_[0]->key ) }

# The Cookie header, as a string.
sub cookies { shift->_field( 'Cookie', @_ ) }

# uri: a URI; absolute (ws:// or wss://) when the Host is known. Setting an
# absolute one sets Host and secure.
sub uri {
    my $self = shift;
    if (@_) {
        my $v = shift;
        return $self->_fail( -2, 'uri: no uri' ) unless defined $v && length "$v";
        my $u = URI->new("$v");
        if ( $u->scheme ) {
            return $self->_fail( -2, "uri: '$v' is not a ws, wss, http or https uri" ) unless $u->scheme =~ /\A(?:wss?|https?)\z/;
            $self->secure(1) if $u->scheme =~ /\A(?:wss|https)\z/;
            my $default = $u->scheme =~ /\A(?:wss|https)\z/ ? 443 : 80;
            $self->host( $u->port == $default ? $u->host : $u->host_port );
            $self->{target} = $u->path_query || '/';
        }
        else {
            $self->{target} = "$v";
        }
        return $self;
    }
    my $target = $self->{target} // '/';
    my $host   = $self->host;
    return URI->new($target) unless defined $host && length $host && $target =~ m{\A/};
    my $scheme = $self->secure ? 'wss' : 'ws';
    return URI->new("$scheme://$host$target");
}

# The request target as sent: the path and query.
sub path_query { $_[0]->{target} // '/' }

sub as_string {
    my ( $self, $eol ) = @_;
    my $v = $self->version;
    return $self->_fail( -4, 'as_string: requests of the ' . $v->draft . ' handshake are not supported' )
      unless defined $v->version && $v->version >= 4;
    my $h = $self->headers;
    return $self->_fail( -2, 'as_string: no host (set host, or an absolute uri)' ) unless defined $h->header('Host');
    $h->header( Upgrade    => 'websocket' ) unless defined $h->header('Upgrade');
    $h->header( Connection => 'Upgrade' )   unless $h->has_token( Connection => 'upgrade' );
    $h->header( 'Sec-WebSocket-Key' => $self->generate_key ) unless defined $h->header('Sec-WebSocket-Key');
    $h->header( 'Sec-WebSocket-Version' => $v->version );
    if ( $self->{subprotocol}->length ) {
        $h->header( 'Sec-WebSocket-Protocol' => $self->{subprotocol}->join(', ') );
    }
    else {
        $h->remove_header('Sec-WebSocket-Protocol');
    }
    if ( $self->{extensions}->length ) {
        $h->header( 'Sec-WebSocket-Extensions' => join ', ', map {"$_"} $self->{extensions}->list );
    }
    else {
        $h->remove_header('Sec-WebSocket-Extensions');
    }
    return $self->_head_as_string( "$self->{method} " . $self->path_query . " $self->{protocol}", $eol );
}

sub _parse_first_line {
    my ( $self, $line ) = @_;
    my ( $method, $target, $http ) = split / /, $line;
    return $self->_fail( -7, "parse: '$line' is not an HTTP request line" )
      unless defined $http && $line =~ tr/ // == 2 && $http =~ m{\AHTTP/(\d+)\.(\d+)\z};
    return $self->_fail( -6, "parse: the handshake needs HTTP/1.1 or later, not $http" ) if $1 < 1 || ( $1 == 1 && $2 < 1 );
    defined $self->method($method) or return;
    $self->{protocol} = $http;
    $self->{target}   = $target;
    return $self;
}

# What RFC 6455 section 4.2.1 asks of a request, checked after parsing.
sub _parse_done {
    my $self = shift;
    my $h    = $self->{headers};
    if ( $self->{target} =~ m{\A[a-z][a-z0-9+.-]*://}i ) {
        defined $self->uri( $self->{target} ) or return;
    }
    return $self->_fail( -6, "parse: the handshake must be a GET, not $self->{method}" ) unless $self->{method} eq 'GET';
    return $self->_fail( -6, 'parse: no Host header' ) unless defined $h->header('Host') && length $h->header('Host');
    return $self->_fail( -6, 'parse: no Upgrade: websocket header' ) unless $h->has_token( Upgrade => 'websocket' );
    return $self->_fail( -6, 'parse: the Connection header has no Upgrade' ) unless $h->has_token( Connection => 'upgrade' );
    my $v = WebSocket::Version->new_from_request($self) or return $self->_pass( 'WebSocket::Version', 'parse' );
    $self->{version} = $v;
    return $self->_parse_websocket_fields;
}

1;

__END__

=head1 NAME

WebSocket::Request - a WebSocket handshake request: build one, or parse one

=head1 SYNOPSIS

    use WebSocket::Request;
    my $req = WebSocket::Request->new(
        host     => 'example.com',
        uri      => '/demo',
        protocol => 'com.example.chat',      # the subprotocol, as the CPAN examples write it
    ) || die( WebSocket::Request->error, "\n" );
    print $req->as_string;
    # GET /demo HTTP/1.1
    # Connection: Upgrade
    # Upgrade: websocket
    # Host: example.com
    # Sec-WebSocket-Key: (16 random bytes in base64)
    # Sec-WebSocket-Protocol: com.example.chat
    # Sec-WebSocket-Version: 13

    # Parsing
    my $in = WebSocket::Request->new;
    $in->parse(<<EOT) || die $in->error, "\n";
    GET /chat HTTP/1.1
    Host: server.example.com
    Upgrade: websocket
    Connection: Upgrade
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
    Origin: http://example.com
    Sec-WebSocket-Protocol: chat, superchat
    Sec-WebSocket-Version: 13

    EOT
    print $in->uri, "\n";                  # ws://server.example.com/chat
    print "@{ $in->subprotocol }\n";       # chat superchat

=head1 DESCRIPTION

The client's opening handshake (RFC 6455 section 4.1). It inherits every
method of L<WebSocket::Common> (headers, host, origin, subprotocol,
extensions, version, parse, parse_chunk, ...).

=head1 CONSTRUCTOR

=head2 new( [$headers [, $buffer]], %options ), new( ..., \%options )

Optional headers first (an array reference of pairs, or an
L<HTTP::Headers>), then the content, then options, each set with the
method of its name: C<buffer>, C<cookies>, C<extensions>, C<headers>,
C<host>, C<key>, C<max_message_size>, C<method>, C<origin>, C<protocol>,
C<secure>, C<subprotocol>, C<uri>, C<version>, and C<debug> and C<fatal>.
An unknown option or a refused value gives C<undef>, and
C<< WebSocket::Request->error >> says why.

=head1 METHODS

=head2 as_string( [$eol] )

The request as text, lines ending with C<$eol> (default C<\r\n>): the
request line, then the fields, to which it adds those the handshake needs
(C<Upgrade: websocket>, C<Connection: Upgrade>, a new random
C<Sec-WebSocket-Key> unless one is set, C<Sec-WebSocket-Version>,
C<Sec-WebSocket-Protocol> and C<Sec-WebSocket-Extensions> from
C<subprotocol> and C<extensions>), a blank line and the buffer. C<undef>
with C<error> without a host, or for a draft older than
C<draft-ietf-hybi-04> (libwebsocket does not speak them).

=head2 parse( $text )

As in L<WebSocket::Common/parse>; the request must also be a C<GET> in
HTTP/1.1 or later with C<Host>, C<Upgrade: websocket> and C<Connection>
including C<Upgrade> (else C<undef>, error code -6). The version is taken
from the request (L<WebSocket::Version/new_from_request>), the
subprotocols and extensions from their fields.

=head2 method( [$method] )

The HTTP method, C<GET>.

=head2 uri( [$uri] )

The request target as a L<URI>: absolute (C<ws://host/path?query>, or
C<wss://> when L<secure|WebSocket::Common/secure>) when the C<Host> is
known, else as sent. An absolute C<ws>, C<wss>, C<http> or C<https> uri
given sets C<Host> (with the port, unless the default one) and, for
C<wss>/C<https>, C<secure>.

=head2 path_query

The target as sent on the request line (C</chat?room=1>).

=head2 key( [$key] )

The C<Sec-WebSocket-Key> field.

=head2 accept

The C<Sec-WebSocket-Accept> value a server must answer this key with
(C<undef> without a key).

=head2 cookies( [$string] )

The C<Cookie> field, as a string.

=cut

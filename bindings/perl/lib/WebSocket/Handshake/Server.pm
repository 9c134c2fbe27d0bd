package WebSocket::Handshake::Server;

use strict;
use warnings;
use MIME::Base64 ();
use Scalar::Util ();
use parent 'WebSocket::Handshake';

our $VERSION = '0.01';

sub _more_options { qw( method path query headers peer secure ) }

# A handshake of an upgrade request already read by the server: method,
# path, query, headers (pairs), peer and secure are that request's.
sub new {
    my $class = shift;
    my @args  = @_ == 1 && ref $_[0] eq 'HASH' ? %{ $_[0] } : @_;
    return $class->_fail( -2, ( ref $class || $class ) . '->new: options come as pairs or a hash reference' ) if @args % 2;
    my %opts = @args;
    my %head = map { exists $opts{$_} ? ( $_ => delete $opts{$_} ) : () } qw( method path query headers peer secure );
    my $self = $class->SUPER::new(%opts) or return;
    $self->{peer} = delete $head{peer};
    if ( defined $head{headers} ) {
        $self->_from_parts(%head) or return;
    }
    elsif (%head) {
        return $class->_fail( -2, ref($self) . '->new: method, path, query and secure come with headers' )
          if grep { defined } values %head;
    }
    return $self;
}

sub peer {
    my $self = shift;
    return $self->{peer} unless @_;
    $self->{peer} = shift;
    return $self;
}

# Builds the request as a head with these parts would parse, and checks it
# as parse does.
sub _from_parts {
    my ( $self, %p ) = @_;
    my $h = $p{headers};
    # A list of [ name, value ] pairs (WebSocket::Connection's headers) or
    # a headers object become a flat list of pairs.
    $h = [ map {@$_} @$h ] if ref $h eq 'ARRAY' && @$h && !grep { ref ne 'ARRAY' || @$_ != 2 } @$h;
    if ( Scalar::Util::blessed($h) && $h->isa('HTTP::Headers') ) {
        my @pairs;
        $h->scan( sub { push @pairs, @_ } );
        $h = \@pairs;
    }
    return $self->_fail( -2, 'headers: expects name => value pairs, [ name, value ] pairs or an HTTP::Headers' )
      unless ref $h eq 'ARRAY' && @$h % 2 == 0 && !grep { ref } @$h;
    my $target = $p{path} // '/';
    $target .= "?$p{query}" if defined $p{query} && length $p{query};
    my $text = join( ' ', $p{method} // 'GET', $target, 'HTTP/1.1' ) . "\r\n";
    for ( my $i = 0 ; $i < @$h ; $i += 2 ) {
        my ( $n, $v ) = ( $h->[$i], $h->[ $i + 1 ] // '' );
        return $self->_fail( -2, 'headers: a name or value with a line break' ) if "$n$v" =~ /[\r\n]/;
        $text .= "$n: $v\r\n";
    }
    $self->{request}->secure(1) if $p{secure};
    return $self->parse("$text\r\n");
}

sub as_string {
    my $self = shift;
    my $s    = $self->{response}->as_string(@_);
    return defined $s ? $s : $self->_pass( $self->{response} );
}

sub is_done { $_[0]->{request}->is_done }

# Parses the client's request and prepares the 101 answer (key, version,
# uri). A request RFC 6455 refuses gives undef with error.
sub parse {
    my ( $self, $text ) = @_;
    my $req = $self->{request};
    my $res = $self->{response};
    return $self if $req->is_done;
    return $self->_fail( -2, 'parse: nothing to parse' ) unless defined $text && length $text;
    unless ( $req->parse($text) ) {
        my $asked = $req->header('Sec-WebSocket-Version');
        $res->code(426)->versions(13) if defined $asked && $asked ne '13' && $req->is_done == 0 && $req->method eq 'GET';
        return $self->_pass($req);
    }
    $req->is_done(0);
    my $v = $req->version;
    unless ( defined $v->version && $v->version == 13 ) {
        $res->code(426)->versions(13);
        return $self->_fail( -6, 'unsupported WebSocket version ' . ( $v->version // $v->draft ) . ' (13 is)' );
    }
    my $key = $req->key;
    my $raw = defined $key ? MIME::Base64::decode_base64($key) : '';
    return $self->_fail( -6, 'no valid Sec-WebSocket-Key (16 bytes in base64)' )
      unless defined $key && $key =~ m{\A[A-Za-z0-9+/]{22}==\z} && length($raw) == 16;
    $res->code(101)->key($key)->version($v)->uri( $req->uri )->secure( $req->secure );
    $req->is_done(1);
    return $self;
}

1;

__END__

=head1 NAME

WebSocket::Handshake::Server - the server's side of the opening handshake

=head1 SYNOPSIS

    use WebSocket::Handshake::Server;
    my $request_text = join "\r\n", 'GET /chat HTTP/1.1', 'Host: example.com', 'Upgrade: websocket',
      'Connection: Upgrade', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Protocol: chat, superchat', '', '';

    my $hs = WebSocket::Handshake::Server->new || die( WebSocket::Handshake::Server->error, "\n" );
    $hs->parse($request_text) || die $hs->error, "\n";
    $hs->response->subprotocol('chat') if $hs->request->subprotocol->exists('chat');
    print $hs->as_string;                      # HTTP/1.1 101 Switching Protocols ...

    # Or from a request the server has already read
    my $hs2 = WebSocket::Handshake::Server->new(
        method  => 'GET',
        path    => '/chat',
        query   => 'room=1',
        headers => [ Host => 'example.com', Upgrade => 'websocket', Connection => 'Upgrade',
                     'Sec-WebSocket-Key' => 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version' => 13 ],
        peer    => '127.0.0.1:53412',
    ) || die( WebSocket::Handshake::Server->error, "\n" );
    print $hs2->uri, ' from ', $hs2->peer, "\n";   # ws://example.com/chat?room=1 from 127.0.0.1:53412

=head1 DESCRIPTION

Checks a client's request and writes the answer. A
L<WebSocket::Handshake>, with these options and methods on top.

=head1 CONSTRUCTOR

=head2 new( %options )

Those of L<WebSocket::Handshake/new>, and, for a request already read
(say by the library): C<headers> (an array reference of name => value
pairs in order, or of C<[ name, value ]> pairs as
L<WebSocket::Connection/headers> gives them, or an L<HTTP::Headers>), C<method> (default C<GET>), C<path> (default C</>),
C<query> (without C<?>), C<secure> (true for TLS) and C<peer> (the
client's address). With C<headers>, the request is checked as C<parse>
checks it; a refused one gives C<undef> and
C<< WebSocket::Handshake::Server->error >>.

=head1 METHODS

=head2 parse( $request_text )

Parses the request (L<WebSocket::Request/parse>) and checks what RFC 6455
asks of it: version 13 (else, an unknown number included, the response
becomes a 426 listing version 13), a C<Sec-WebSocket-Key> of 16 bytes in base64. The response is then a
101 for that key. Returns the object, or C<undef> with C<error> set (code
-6 for a refused handshake, -7 for text that is not HTTP).

=head2 as_string( [$eol] )

The answer to send (L<WebSocket::Response/as_string>), with the correct
C<Sec-WebSocket-Accept>. Choose a subprotocol or extensions first by
setting them on the L<response|WebSocket::Handshake/response>.

=head2 is_done

True once a valid request was parsed.

=head2 peer( [$address] )

The client's address, as given to C<new>.

=head2 make_frame( %args )

An unmasked L<WebSocket::Frame> (see L<WebSocket::Handshake/make_frame>).

=cut

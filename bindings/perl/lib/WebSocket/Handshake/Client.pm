package WebSocket::Handshake::Client;

use strict;
use warnings;
use parent 'WebSocket::Handshake';

our $VERSION = '0.01';

sub _more_options { qw( subprotocol extensions origin headers ) }
sub _masked       { 1 }

sub subprotocol { my $self = shift; return $self->_delegate( 'subprotocol', @_ ) }
sub extensions  { my $self = shift; return $self->_delegate( 'extensions',  @_ ) }
sub origin      { my $self = shift; return $self->_delegate( 'origin',      @_ ) }
sub headers     { my $self = shift; return $self->_delegate( 'headers',     @_ ) }

sub _delegate {
    my ( $self, $method ) = ( shift, shift );
    return $self->{request}->$method unless @_;
    defined $self->{request}->$method(@_) or return $self->_pass( $self->{request} );
    return $self;
}

# The request to send. The key is made (once) here when none was set.
sub as_string {
    my $self = shift;
    my $s    = $self->{request}->as_string(@_);
    return defined $s ? $s : $self->_pass( $self->{request} );
}

sub key { $_[0]->{request}->key }

sub is_done { $_[0]->{response}->is_done }

# Parses the server's answer and checks it against the request (RFC 6455
# section 4.1): 101, Upgrade, Connection, the accept value of our key, a
# subprotocol and extensions we offered.
sub parse {
    my ( $self, $text ) = @_;
    my $req = $self->{request};
    my $res = $self->{response};
    return $self if $res->is_done;
    return $self->_fail( -2, 'parse: nothing to parse' ) unless defined $text && length $text;
    my $key = $req->key;
    return $self->_fail( -15, 'parse: no request was made (as_string) to check the answer against' ) unless defined $key;
    $res->parse($text) or return $self->_pass($res);
    $res->is_done(0);
    my $h = $res->headers;
    return $self->_fail( -6, 'the server answered ' . $res->code . ' ' . $res->status ) unless $res->code == 101;
    return $self->_fail( -6, 'no Upgrade: websocket in the answer' ) unless $h->has_token( Upgrade => 'websocket' );
    return $self->_fail( -6, 'no Connection: Upgrade in the answer' ) unless $h->has_token( Connection => 'upgrade' );
    my $accept = $h->header('Sec-WebSocket-Accept');
    return $self->_fail( -6, 'wrong or missing Sec-WebSocket-Accept' )
      unless defined $accept && $accept eq $res->accept_for_key($key);
    $res->key($key);
    if ( my $chosen = $res->subprotocol->first ) {
        return $self->_fail( -6, "the server chose the subprotocol '$chosen', which was not offered" )
          unless $req->subprotocol->exists($chosen) && $res->subprotocol->length == 1;
    }
    my %offered = map { lc $_->name => 1 } $req->extensions->list;
    for my $e ( $res->extensions->list ) {
        return $self->_fail( -6, "the server accepted the extension '" . $e->name . "', which was not offered" )
          unless $offered{ lc $e->name };
    }
    $res->is_done(1);
    return $self;
}

1;

__END__

=head1 NAME

WebSocket::Handshake::Client - the client's side of the opening handshake

=head1 SYNOPSIS

    use WebSocket::Handshake::Client;
    my $hs = WebSocket::Handshake::Client->new( uri => 'ws://localhost:8181/some/where' )
      || die( WebSocket::Handshake::Client->error, "\n" );
    $hs->subprotocol('chat');
    my $request = $hs->as_string;             # to send: the request, with a new random key

    # The server's side, here in the same process
    use WebSocket::Handshake::Server;
    my $server = WebSocket::Handshake::Server->new;
    $server->parse($request) || die $server->error, "\n";
    $server->response->subprotocol('chat');
    my $answer = $server->as_string;          # read by the client up to the blank line

    $hs->parse($answer) || die $hs->error, "\n";
    print "open with ", $hs->response->subprotocol->first, "\n" if $hs->is_done;

=head1 DESCRIPTION

Writes an RFC 6455 request (version 13) and checks the server's answer. A
L<WebSocket::Handshake>, with these options and methods on top.

=head1 CONSTRUCTOR

=head2 new( %options )

Those of L<WebSocket::Handshake/new>, and C<subprotocol>, C<extensions>,
C<origin> and C<headers>, set on the request.

=head1 METHODS

=head2 as_string( [$eol] )

The request to send (L<WebSocket::Request/as_string>); its
C<Sec-WebSocket-Key> is made the first time.

=head2 key

The request's C<Sec-WebSocket-Key> (C<undef> before C<as_string>).

=head2 parse( $answer )

Parses the server's answer and checks it: a 101, C<Upgrade: websocket>,
C<Connection: Upgrade>, C<Sec-WebSocket-Accept> matching the key, a single
subprotocol among those offered, only extensions that were offered. Returns
the object, or C<undef> with C<error> set (code -6 for an answer that fails
the handshake). Once done, parsing again does nothing.

=head2 is_done

True once a valid answer was parsed.

=head2 subprotocol, extensions, origin, headers

Those of the request (see L<WebSocket::Common>); setters return the
handshake.

=head2 make_frame( %args )

A masked L<WebSocket::Frame> (see L<WebSocket::Handshake/make_frame>).

=cut

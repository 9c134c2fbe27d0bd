use strict;
use warnings;
use utf8;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/lib";
use Test::More;

alarm 30;    # a hang fails the test instead of stalling the suite
use Encode ();
use TestPeer qw( start_echo );
use WebSocket qw( :ws );
use WebSocket::Client;

my $peer = start_echo();

# Runs the client's loop until $cond is true or 5 s have passed.
sub wait_for {
    my ( $c, $cond ) = @_;
    my $deadline = time + 5;
    WebSocket::FFI::wait_and_dispatch(0.2) until $cond->() || time > $deadline;
    return $cond->();
}

my ( @events, @utf8, @binary, @recv, @pongs, @disconnects );
my $c = WebSocket::Client->new(
    $peer->url,
    timeout      => 5,
    on_connect   => sub { push @events, 'connect' },
    on_utf8      => sub { push @utf8, $_[1] },
    on_binary    => sub { push @binary, $_[1] },
);
my $chained = $c->on_recv( sub { push @recv, [ $_[1], $_[2] ] } )
  ->on_pong( sub { push @pongs, $_[1] } )
  ->on_disconnect( sub { push @disconnects, [ $_[1], $_[2] ] } );
is( $chained, $c, 'callback setters return the client, so they chain' );
is( ref $c->on_pong, 'CODE', 'a callback getter returns the callback' );

ok( !$c->connected, 'not connected before connect' );
is( $c->connect, $c, 'connect returns the client' ) or diag $c->error;
ok( $c->connected, 'connected' );
is_deeply( \@events, ['connect'], 'on_connect ran once' );
ok( $c->event_fd >= 0, 'event_fd is a descriptor' );

my $text = "héllo ☃ 日本";
ok( $c->send_utf8($text), 'send_utf8 with wide characters' );
ok( wait_for( $c, sub { @utf8 } ), 'the text comes back' );
is( $utf8[0], $text, 'on_utf8 gets the same characters' );
ok( utf8::is_utf8( $utf8[0] ), 'as a character string' );

my $bytes = join '', map { chr } 0 .. 255;
ok( $c->send_binary($bytes), 'send_binary with every byte value' );
ok( wait_for( $c, sub { @binary } ), 'the bytes come back' );
is( length $binary[0], 256, '256 bytes' );
ok( $binary[0] eq $bytes, 'on_binary gets them identical' );

is( scalar @recv, 2, 'on_recv saw both messages' );
is( $recv[0][1], 'text',   '... the first as text' );
is( $recv[0][0], Encode::encode( 'UTF-8', $text ), '... as its UTF-8 bytes' );
is( $recv[1][1], 'binary', '... the second as binary' );
ok( $recv[1][0] eq $bytes, '... with its bytes' );

ok( $c->send('plain'), 'send sends text' );
ok( wait_for( $c, sub { @utf8 == 2 } ), 'and it comes back' );
is( $utf8[1], 'plain', 'as text' );

ok( $c->ping("are you there"), 'ping' );
ok( wait_for( $c, sub { @pongs } ), 'on_pong runs' );
is( $pongs[0], 'are you there', 'with the ping payload' );
ok( $c->pong('heartbeat'), 'an unsolicited pong can be sent' );

ok( !eval { $c->send_binary("\x{263A}"); 1 }, 'send_binary refuses wide characters' );
like( $@, qr/wide character/, '... saying so' );

ok( !$c->ping( 'x' x 126 ), 'a ping over 125 bytes fails' );
isa_ok( $c->error, 'WebSocket::Exception', 'error' );
ok( $c->error->code < 0, 'with a negative status' );
ok( $c->connected, 'the connection stays open' );

is( $c->subprotocol, undef, 'no subprotocol was negotiated' );
is( $c->extensions, '', 'no extension was negotiated' );

is( $c->disconnect(WS_OK), $c, 'disconnect(WS_OK)' );
ok( !$c->connected, 'no longer connected' );
is_deeply( \@disconnects, [ [ 1000, '' ] ], 'on_disconnect(1000)' );

ok( !defined $c->send_utf8('too late'), 'send after close returns undef' );
isa_ok( $c->error, 'WebSocket::Exception', 'and sets error' );
like( $c->error->message, qr/not open|closed/i, '... saying the connection is not open' );
is( $c->error->code, -8, '... with WS_ERR_NOT_OPEN' );
my @list = $c->send_binary('x');
is( scalar @list, 0, 'a failure is an empty list in list context' );

# The server closes on "close-me" with 4000 "bye"; start returns then.
my @closed;
my $d = WebSocket->client( $peer->url, on_disconnect => sub { push @closed, [ $_[1], $_[2] ] } );
ok( $d->connect, 'second client connects' ) or diag $d->error;
$d->on_connect( sub { } );
ok( $d->send_utf8('close-me'), 'send close-me' );
is( $d->start, $d, 'start returns once disconnected' );
is_deeply( \@closed, [ [ 4000, 'bye' ] ], "the server's close reaches on_disconnect(4000, 'bye')" );
is( $d->close_code,   4000,  'close_code' );
is( $d->close_reason, 'bye', 'close_reason' );

# An exception thrown by a callback reaches the caller of the loop.
my $e = WebSocket->client( $peer->url, on_utf8 => sub { die "callback died\n" } );
ok( $e->connect, 'third client connects' );
$e->send_utf8('boom');
ok( !eval { $e->start; 1 }, 'a callback that dies makes the loop die' );
is( $@, "callback died\n", 'with its exception' );
ok( $e->connected, 'the connection is still usable' );
ok( $e->disconnect, 'and closes' );

undef $c;
undef $d;
undef $e;
pass('clients free cleanly');
$peer->stop;
done_testing;

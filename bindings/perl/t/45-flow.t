use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/lib";
use Test::More;
use IO::Handle;
use Time::HiRes ();

alarm 60;    # a hang fails the test instead of stalling the suite
use TestPeer qw( run_until raw_ws_client raw_ws_server read_frame );
use WebSocket::Client;
use WebSocket::Server;

# Flow control: send_watermarks, backpressure, buffered_amount, on_drain.

use constant { LOW => 64 * 1024, HIGH => 256 * 1024, MESSAGE => 32 * 1024 };

# Sends MESSAGE-byte binary messages on $endpoint (which nobody reads) until
# it reports backpressure and, after a pause (while what was queued may
# still drain into the kernel's buffers), more than HIGH bytes still wait.
# Returns how many messages were sent.
sub fill {
    my ($endpoint) = @_;
    my $payload = "\x5a" x MESSAGE;
    my $sent    = 0;
    while ( $sent * MESSAGE < 64 << 20 ) {
        $endpoint->send_binary($payload) or return $sent;
        $sent++;
        next unless $endpoint->backpressure && $endpoint->buffered_amount > HIGH;
        Time::HiRes::sleep(0.3);
        last if $endpoint->buffered_amount > HIGH;
    }
    return $sent;
}

subtest 'a server sending to a client that does not read: backpressure, then on_drain' => sub {
    my ( $conn, $drains ) = ( undef, 0 );
    my $server = WebSocket::Server->new(
        host            => '127.0.0.1',
        port            => 0,
        send_watermarks => [ LOW, HIGH ],
        on_connect      => sub {
            $_[1]->on( ready => sub { $conn = $_[0] }, drain => sub { $drains++ } );
        },
    );
    $server->listen or die $server->error;
    my ($sock) = raw_ws_client( $server->port );
    run_until( 'the connection is ready', sub { $conn } ) or return;
    is( $conn->buffered_amount, 0, 'nothing waits at first' );
    ok( !$conn->backpressure, 'no backpressure at first' );

    my $sent = fill($conn);
    ok( !defined $conn->error, 'no send failed on the way' ) or diag $conn->error;
    ok( $conn->backpressure, "backpressure after $sent messages" );
    cmp_ok( $conn->buffered_amount, '>', HIGH, 'more than the high mark waits' );
    ok( $conn->send_utf8('one more'), 'a send over the mark still queues and returns the connection' );
    $sent++;
    $server->poll;    # on_drain of any earlier, smaller backlog
    my $before = $drains;
    Time::HiRes::sleep(0.3);
    $server->poll;
    is( $drains, $before, 'no on_drain while the client does not read' );

    my $read = 0;
    for ( 1 .. $sent ) {
        my ($b0) = read_frame($sock);
        $read++ if $b0 == 0x82 || $b0 == 0x81;
    }
    is( $read, $sent, "the client read the $sent messages" );
    run_until( 'on_drain', sub { $drains > $before } );
    is( $drains, $before + 1, 'on_drain came once' );
    ok( !$conn->backpressure, 'no backpressure after on_drain' );
    cmp_ok( $conn->buffered_amount, '<=', LOW, 'at most the low mark waits' );
    ok( $conn->send_utf8('small') && !$conn->backpressure, 'a send under the mark: no backpressure' );
    is_deeply( [ read_frame($sock) ], [ 0x81, 'small' ], 'the small message arrives' );
    close $sock;
    run_until( 'the close', sub { !$server->connections } );
    is( $conn->buffered_amount, 0, 'a closed connection has nothing waiting' );
    $server->shutdown;
};

subtest 'a client sending to a server that does not read: backpressure, then on_drain' => sub {
    pipe( my $go, my $tell ) or die "pipe: $!";
    my ( $port, $pid ) = raw_ws_server(
        sub {
            my ($peer) = @_;
            close $tell;
            sysread( $go, my $byte, 1 );    # reads nothing until the test says so
            1 while sysread( $peer, my $buf, 1 << 16 );
        }
    );
    close $go;
    my $drains = 0;
    my $client = WebSocket::Client->new( "ws://127.0.0.1:$port/",
        send_watermarks => [ LOW, HIGH ],
        on_drain        => sub { $drains++ },
    );
    ok( $client->connect, 'connects' ) or diag $client->error;
    is( $client->buffered_amount, 0, 'nothing waits at first' );
    my $sent = fill($client);
    ok( $client->backpressure, "backpressure after $sent messages" );
    cmp_ok( $client->buffered_amount, '>', HIGH, 'more than the high mark waits' );
    $client->poll;
    my $before = $drains;
    syswrite( $tell, 'x' );    # the server reads from now on
    run_until( 'on_drain', sub { $drains > $before } );
    ok( !$client->backpressure, 'no backpressure after on_drain' );
    cmp_ok( $client->buffered_amount, '<=', LOW, 'at most the low mark waits' );
    kill 'TERM', $pid;
    waitpid $pid, 0;
};

subtest 'send_watermarks must be two byte counts, low <= high, high > 0' => sub {
    for my $bad ( [ 5, 4 ], [ 0, 0 ] ) {
        my $server = WebSocket::Server->new( host => '127.0.0.1', port => 0, send_watermarks => $bad );
        ok( !$server->listen, "[@$bad]: listen fails" );
        like( $server->error->message, qr/^send_watermarks: /, '... naming the option' );
    }
    for my $bad ( 1024, [1024], [ 1, 'lots' ] ) {
        my $client = WebSocket::Client->new( 'ws://127.0.0.1:1/', send_watermarks => $bad );
        ok( !$client->connect, 'connect fails with send_watermarks ' . ( ref $bad ? "[@$bad]" : $bad ) );
        like( $client->error->message, qr/^send_watermarks: expects \[ low, high \]/, '... saying what it expects' );
    }
};

done_testing;

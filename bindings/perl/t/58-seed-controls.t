# The seed's connection controls over real sockets: do_pong and on_ping
# deciding the pong, shutdown (no close frame), a connection's own
# max_recv_size, a server on a socket you made (plain and TLS), and the
# client's handshake object with its on_handshake verdict.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/lib";
use Test::More;

alarm 60;    # a hang fails the test instead of stalling the suite
use File::Temp ();
use IO::Select;
use IO::Socket::INET;
use WebSocket qw( :ws );
use WebSocket::Client;
use WebSocket::Frame;
use WebSocket::Server;
use TestPeer qw( make_certs raw_ws_client read_frame run_until );

# A server whose connections run $setup (in on_connect) and record events.
sub server_with {
    my ( $setup, %opts ) = @_;
    my $s = WebSocket::Server->new(
        host       => '127.0.0.1',
        port       => 0,
        on_connect => sub { $setup->( $_[1] ) },
        %opts,
    ) or die WebSocket::Server->error;
    $s->listen or die $s->error;
    return $s;
}

# The next frame from a raw client socket, running the server meanwhile.
sub next_frame {
    my ($sock) = @_;
    my $ready = IO::Select->new($sock);
    run_until( 'a frame', sub { $ready->can_read(0) } ) or return;
    return read_frame($sock);
}

sub ping_frame { WebSocket::Frame->new( buffer => $_[0], type => 'ping', masked => 1 )->to_bytes }

subtest 'pongs: the library, on_ping returning false, do_pong' => sub {
    my @pinged;
    my $s = server_with(
        sub {
            my ($conn) = @_;
            return unless $conn->request_uri->path eq '/mine';
            $conn->on( ping => sub { push @pinged, $_[1]; $_[1] ne 'quiet' } );
            $conn->do_pong( sub { my ( $c, $bytes ) = @_; $c->pong("custom:$bytes") } );
        }
    );
    my ($plain) = raw_ws_client( $s->port );
    print $plain ping_frame('a');
    my ( $b0, $payload ) = next_frame($plain);
    is( $b0 & 0x0f, 10, 'without on_ping or do_pong the library answers: a pong' );
    is( $payload, 'a', '... with the ping payload' );

    my $mine = IO::Socket::INET->new( PeerAddr => '127.0.0.1', PeerPort => $s->port ) or die $!;
    print $mine "GET /mine HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    my $ready = IO::Select->new($mine);
    run_until( 'the 101', sub { $ready->can_read(0) } );
    my $head = '';
    sysread( $mine, $head, 1, length $head ) until $head =~ /\r\n\r\n/;
    like( $head, qr{^HTTP/1.1 101}, 'upgraded' );
    run_until( 'the server connection is ready', sub { grep { $_->request_uri->path eq '/mine' } $s->connections } );
    print $mine ping_frame('quiet'), ping_frame('loud');
    ( $b0, $payload ) = next_frame($mine);
    is_deeply( \@pinged, [ 'quiet', 'loud' ], 'on_ping saw both pings' );
    is( $b0 & 0x0f, 10, 'a pong came' );
    is( $payload, 'custom:loud', '... only for the ping on_ping did not refuse, and from do_pong' );
    close $_ for $plain, $mine;
    $s->shutdown;
};

subtest 'a client: on_ping returning false, then do_pong' => sub {
    my ( $server_conn, @pongs );
    my $s = server_with( sub { $server_conn = $_[0]; $_[0]->on( pong => sub { push @pongs, $_[1] } ) } );
    my @pings;
    my $c = WebSocket::Client->new( 'ws://127.0.0.1:' . $s->port . '/', on_ping => sub { push @pings, $_[1]; $_[1] ne 'no' } );
    ok( $c->connect, 'connected' ) or diag $c->error;
    run_until( 'the server side is ready', sub { $server_conn && $server_conn->is_ready } );
    $server_conn->ping('no');
    $server_conn->ping('yes');
    run_until( 'the client saw both pings and a pong came back', sub { @pings == 2 && @pongs } );
    is_deeply( \@pongs, ['yes'], 'only the ping on_ping accepted got a pong' );
    $c->do_pong( sub { $_[0]->pong( 'via do_pong ' . $_[1] ) } );
    $server_conn->ping('again');
    run_until( 'the second pong', sub { @pongs == 2 } );
    is( $pongs[1], 'via do_pong again', 'do_pong made the pong' );
    $c->on_ping(undef)->do_pong(undef);
    $server_conn->ping('library');
    run_until( 'the library answers again', sub { @pongs == 3 } );
    is( $pongs[2], 'library', 'without on_ping and do_pong the library answers again' );
    $c->disconnect;
    $s->shutdown;
};

subtest 'shutdown closes at once, without a close frame' => sub {
    my ( $server_conn, @server_closed );
    my $s = server_with( sub { $server_conn = $_[0]; $_[0]->on( disconnect => sub { push @server_closed, $_[1] } ) } );
    my @closed;
    my $c = WebSocket::Client->new( 'ws://127.0.0.1:' . $s->port . '/', on_disconnect => sub { push @closed, $_[1] } );
    ok( $c->connect, 'connected' );
    run_until( 'the server side is ready', sub { $server_conn && $server_conn->is_ready } );
    is( $server_conn->shutdown, $server_conn, 'shutdown returns the connection' );
    run_until( 'both ends closed', sub { @closed && @server_closed } );
    is_deeply( \@closed, [WS_CLOSED_ABNORMALLY], 'the client saw the connection end without a close frame (1006)' );
    is_deeply( \@server_closed, [WS_CLOSED_ABNORMALLY], 'so did the server side' );
    ok( !$server_conn->shutdown, 'a second shutdown fails' );
    like( $server_conn->error, qr/not open/, '... the connection is not open' );
    $s->shutdown;
};

subtest "a connection's own max_recv_size" => sub {
    my $server_conn;
    my $s = server_with(
        sub {
            $server_conn = $_[0];
            is( $_[0]->max_recv_size, $_[0]->server->max_payload_size, "max_recv_size starts as the server's" );
            ok( $_[0]->max_recv_size(16), 'set during the handshake' );
            $_[0]->on( utf8 => sub { $_[0]->send_utf8( $_[1] ) } );
        }
    );
    my ( @got, @closed );
    my $c = WebSocket::Client->new( 'ws://127.0.0.1:' . $s->port . '/',
        on_utf8 => sub { push @got, $_[1] }, on_disconnect => sub { push @closed, $_[1] } );
    ok( $c->connect, 'connected' );
    is( $server_conn->max_recv_size, 16, 'max_recv_size reads it back' );
    $c->send('sixteen bytes ok');
    run_until( 'the echo', sub { @got } );
    $c->send('seventeen bytes!!');
    run_until( 'the client closed', sub { @closed } );
    is_deeply( \@closed, [WS_MESSAGE_TOO_LARGE], 'a message over it closes with 1009' );
    ok( !$server_conn->max_recv_size(0), '0 is refused' );
    $s->shutdown;
};

subtest 'listen => a socket you made, plain and TLS' => sub {
    my $listener = IO::Socket::INET->new( Listen => 5, LocalAddr => '127.0.0.1', LocalPort => 0, ReuseAddr => 1 ) or die $!;
    my @got;
    my $s = WebSocket::Server->new(
        listen     => $listener,
        on_connect => sub { $_[1]->on( utf8 => sub { $_[0]->send_utf8( uc $_[1] ) } ) },
    );
    ok( $s->listen, 'listen on the socket' ) or diag $s->error;
    is( $s->socket, $listener, 'socket returns it' );
    is( $s->port, $listener->sockport, 'the port is the socket port' );
    ok( !$s->is_ssl, 'plain' );
    my $c = WebSocket::Client->new( 'ws://127.0.0.1:' . $listener->sockport . '/', on_utf8 => sub { push @got, $_[1] } );
    ok( $c->connect, 'a client connects' ) or diag $c->error;
    $c->send('hello');
    run_until( 'the answer', sub { @got } );
    is_deeply( \@got, ['HELLO'], 'the server on the adopted socket answers' );
    $c->disconnect;
    $s->shutdown;
    ok( !WebSocket::Server->new( listen => 'not a socket' ), 'a listen option that is no socket is refused' );
    like( WebSocket::Server->error, qr/listen must be a listening socket/, '... saying so' );

  SKIP: {
        skip 'IO::Socket::SSL is not installed', 6 unless eval { require IO::Socket::SSL; 1 };
        my $dir = File::Temp->newdir;
        my ( $ca, $cert, $key ) = make_certs("$dir");
        my $ssl = IO::Socket::SSL->new(
            Listen             => 5,
            LocalAddr          => '127.0.0.1',
            LocalPort          => 0,
            ReuseAddr          => 1,
            SSL_server         => 1,
            SSL_startHandshake => 0,
            SSL_cert_file      => $cert,
            SSL_key_file       => $key,
        ) or die 'IO::Socket::SSL: ' . IO::Socket::SSL::errstr();
        my @tls;
        my $t = WebSocket::Server->new(
            listen     => $ssl,
            on_connect => sub { $_[1]->on( utf8 => sub { $_[0]->send_utf8( "tls:$_[1]" ) } ) },
        );
        ok( $t->listen, 'listen on an IO::Socket::SSL listener' ) or diag $t->error;
        ok( $t->is_ssl, 'is_ssl' );
        my $tc = WebSocket::Client->new( 'wss://localhost:' . $ssl->sockport . '/',
            ssl_ca_file => $ca, on_utf8 => sub { push @tls, $_[1] } );
        ok( $tc->connect, 'a wss:// client connects with the certificate of the socket' ) or diag $tc->error;
        ok( $tc->is_secure, '... over TLS' );
        $tc->send('x');
        run_until( 'the answer', sub { @tls } );
        is_deeply( \@tls, ['tls:x'], 'the TLS server answers' );
        $tc->disconnect;
        $t->shutdown;
        my $bare = IO::Socket::SSL->new( Listen => 5, LocalAddr => '127.0.0.1', LocalPort => 0, SSL_server => 1,
            SSL_startHandshake => 0, SSL_cert_file => $cert, SSL_key_file => $key );
        delete ${*$bare}{_SSL_arguments}{SSL_cert_file};
        ok( !WebSocket::Server->new( listen => $bare )->listen, 'an SSL listener without a certificate is refused' );
    }
};

subtest "the client's handshake and on_handshake's verdict" => sub {
    my $s = server_with( sub { } );
    my $hs;
    my $c = WebSocket::Client->new( 'ws://127.0.0.1:' . $s->port . '/path?q=1',
        headers => { 'X-Token' => 'abc' }, on_handshake => sub { $hs = $_[1]; 1 } );
    ok( $c->connect, 'connected' );
    isa_ok( $hs, 'WebSocket::Handshake::Client', 'on_handshake got the handshake' );
    is( $c->handshake, $hs, '$client->handshake is it' );
    is( $hs->request->headers->header('X-Token'), 'abc', 'its request is what was sent' );
    like( $hs->request->as_string, qr{\AGET /path\?q=1 HTTP/1.1\r\n}, '... from its first line' );
    is( $hs->response->code, 101, 'its response is what came back' );
    ok( $hs->response->headers->header('Sec-WebSocket-Accept'), '... with the accept key' );
    $c->disconnect;

    my ( $connected, @closed ) = (0);
    my $no = WebSocket::Client->new( 'ws://127.0.0.1:' . $s->port . '/',
        on_handshake => sub { 0 }, on_connect => sub { $connected++ }, on_disconnect => sub { push @closed, $_[1] } );
    $no->connect;
    run_until( 'the refused connection closed', sub { @closed } );
    is( $connected, 0, 'on_handshake returning 0: on_connect does not run' );
    is_deeply( \@closed, [WS_NOT_ACCEPTABLE], '... and the connection closes with 1003' );
    like( $no->error, qr/Handshake rejected/, '... saying why' );
    $s->shutdown;
};

done_testing;

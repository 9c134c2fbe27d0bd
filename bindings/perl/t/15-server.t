use strict;
use warnings;
use utf8;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use Time::HiRes ();

alarm 60;    # a hang fails the test instead of stalling the suite
use TestPeer qw( raw_upgrade run_until raw_ws_server );
use WebSocket qw( :ws );
use WebSocket::Client;
use WebSocket::Server;

# Our server and our client against each other, in one process: every
# event of both runs inside the same dispatch calls.

# A server on a free port whose connections record their events in @$log.
sub recording_server {
    my ( $log, %opts ) = @_;
    my $extra = delete $opts{conn} || {};
    my $server = WebSocket::Server->new(
        host       => '127.0.0.1',
        port       => 0,
        on_connect => sub {
            my ( $srv, $conn ) = @_;
            push @$log, [ connect => $conn->request_uri->path_query ];
            $conn->on(
                ready      => sub { push @$log, ['ready'] },
                utf8       => sub { push @$log, [ utf8 => $_[1] ]; $_[0]->send_utf8( $_[1] ) },
                binary     => sub { push @$log, [ binary => $_[1] ]; $_[0]->send_binary( $_[1] ) },
                ping       => sub { push @$log, [ ping => $_[1] ] },
                pong       => sub { push @$log, [ pong => $_[1] ] },
                error      => sub { push @$log, [ error => $_[1]->message ] },
                disconnect => sub { push @$log, [ disconnect => $_[1], $_[2] ] },
                %$extra,
            );
            return 1;
        },
        %opts,
    ) or die WebSocket::Server->error;
    $server->listen or die $server->error;
    return $server;
}

sub url { my ( $server, $path ) = @_; 'ws://127.0.0.1:' . $server->port . ( $path // '/' ) }

sub events_named { my ( $log, $name ) = @_; grep { $_->[0] eq $name } @$log }

subtest 'echo round trips: text with wide characters, every byte value, pings' => sub {
    my @log;
    my $server = recording_server( \@log );
    ok( $server->port > 0, 'port 0 picked a port: ' . $server->port );
    is( $server->ip, '127.0.0.1', 'ip' );
    ok( !$server->is_ssl, 'not TLS' );
    my ( @text, @binary, @pongs );
    my $client = WebSocket::Client->new(
        url( $server, '/echo?x=1' ),
        on_utf8   => sub { push @text,   $_[1] },
        on_binary => sub { push @binary, $_[1] },
        on_pong   => sub { push @pongs,  $_[1] },
    );
    ok( $client->connect, 'client connected' ) or diag $client->error;
    my $text  = "héllo ☃ \x{1F600} עברית";
    my $bytes = join '', map { chr } 0 .. 255;
    $client->send_utf8($text);
    $client->send_binary($bytes);
    $client->ping('are you there');
    run_until( 'echoes', sub { @text && @binary && @pongs } );
    is( $text[0],   $text,  'text came back as the same characters' );
    is( $binary[0], $bytes, 'every byte value came back' );
    is( $pongs[0], 'are you there', 'the server answered our ping' );
    is_deeply( ( events_named( \@log, 'connect' ) )[0], [ connect => '/echo?x=1' ], 'on_connect saw the request URI' );
    is( scalar events_named( \@log, 'ready' ), 1, 'on_ready ran once' );
    is( ( events_named( \@log, 'utf8' ) )[0][1], $text, 'on_utf8 got characters' );
    is( ( events_named( \@log, 'binary' ) )[0][1], $bytes, 'on_binary got the bytes' );
    is( ( events_named( \@log, 'ping' ) )[0][1], 'are you there', 'on_ping got the payload' );
    my @conns = $server->connections;
    is( scalar @conns, 1, 'one connection' );
    my $conn = $conns[0];
    ok( $conn->is_ready, 'is_ready' );
    is( $conn->ip, '127.0.0.1', 'connection ip' );
    like( $conn->port, qr/^\d+$/, 'connection port' );
    ok( $conn->ping('from server'), 'server ping' );
    run_until( 'pong at the server', sub { events_named( \@log, 'pong' ) } );
    is( ( events_named( \@log, 'pong' ) )[0][1], 'from server', 'on_pong got our payload back' );
    ok( $conn->send( text => 'via send' ), 'send(text)' );
    ok( $conn->send( binary => "\0\1" ), 'send(binary)' );
    run_until( 'send() messages', sub { @text >= 2 && @binary >= 2 } );
    is( $text[1],   'via send', 'send(text) arrived as text' );
    is( $binary[1], "\0\1",     'send(binary) arrived as binary' );
    my $odd = "\x{FFFE}\x{FFFF}\x{10FFFF}\x{FDD0}";
    ok( $conn->send_utf8($odd), 'noncharacters are valid text' );
    run_until( 'noncharacters', sub { @text >= 3 } );
    is( $text[2], $odd, '... and arrive unchanged (not as U+FFFD)' );
    ok( !defined $conn->send_utf8("a\x{D800}b"), 'a lone surrogate is refused' );
    like( $conn->error, qr/UTF-8/, '... as invalid UTF-8' );
    ok( !defined $client->send_utf8("\x{110000}"), 'the client refuses code points above U+10FFFF' );
    ok( $client->connected, '... and stays connected' );
    ok( !defined $conn->send( carrier_pigeon => 'x' ), 'send with an unknown type fails' );
    like( $conn->error, qr/unknown message type 'carrier_pigeon'/, '... and says why' );
    $client->disconnect( 4001, 'client bye ☃' );
    run_until( 'server disconnect', sub { events_named( \@log, 'disconnect' ) } );
    is_deeply( ( events_named( \@log, 'disconnect' ) )[0], [ disconnect => 4001, 'client bye ☃' ], 'server saw our code and reason' );
    ok( !$conn->is_ready, 'not ready after the close' );
    is( $conn->close_code, 4001, 'close_code' );
    ok( !defined $conn->send_utf8('late'), 'send after close fails' );
    is( $conn->error->code, -8, '... with WS_ERR_NOT_OPEN' );
    is( $server->connections->length, 0, 'no connections left' );
};

subtest 'the server closes with a code and reason' => sub {
    my @log;
    my $server = recording_server( \@log, conn => { utf8 => sub { $_[0]->disconnect( 4002, 'server bye ✓' ) } } );
    my @closed;
    my $client = WebSocket::Client->new( url($server), on_disconnect => sub { push @closed, [ @_[ 1, 2 ] ] } );
    $client->connect or die $client->error;
    $client->send_utf8('close me');
    run_until( 'client disconnect', sub { @closed } );
    is_deeply( $closed[0], [ 4002, 'server bye ✓' ], 'client saw the server code and reason' );
    run_until( 'server disconnect', sub { events_named( \@log, 'disconnect' ) } );
    is( ( events_named( \@log, 'disconnect' ) )[0][1], 4002, 'server side reports its own code echoed' );
};


subtest 'refusing requests: on_connect, on_handshake, on_origin, http_error, disconnect' => sub {
    my %seen;
    my $server = WebSocket::Server->new(
        host       => '127.0.0.1',
        port       => 0,
        on_connect => sub {
            my ( $srv, $conn ) = @_;
            my $path = $conn->request_uri->path_query;
            $seen{ip}     = $conn->ip;
            $seen{header} = $conn->header('x-custom');
            return 0 if $path eq '/connect-no';
            $conn->on(
                handshake => sub {
                    my ($c) = @_;
                    return $c->http_error( 401, 'who are you?' ) if $c->request_uri->path eq '/auth';
                    return $c->disconnect                          if $c->request_uri->path eq '/hangup';
                    return $c->request_uri->path ne '/handshake-no';
                },
                origin => sub {
                    my ( $c, $origin ) = @_;
                    $seen{origin} = $origin;
                    return !defined $origin || $origin eq 'https://good.example';
                },
            );
            return;
        },
    ) or die WebSocket::Server->error;
    $server->listen or die $server->error;
    my ($r) = raw_upgrade( $server, '/connect-no', 'X-Custom: yes' );
    like( $r, qr{^HTTP/1.1 403}, 'on_connect returning 0 gives 403' );
    is( $seen{header}, 'yes', 'headers readable in on_connect' );
    is( $seen{ip}, '127.0.0.1', 'ip readable in on_connect' );
    ($r) = raw_upgrade( $server, '/handshake-no' );
    like( $r, qr{^HTTP/1.1 403}, 'on_handshake returning false gives 403' );
    ($r) = raw_upgrade( $server, '/auth' );
    like( $r, qr{^HTTP/1.1 401}, 'http_error(401) gives 401' );
    like( $r, qr{who are you\?\z}, '... with its message as the body' );
    ($r) = raw_upgrade( $server, '/hangup' );
    like( $r, qr{^HTTP/1.1 403}, 'disconnect during the handshake gives 403' );
    ($r) = raw_upgrade( $server, '/', 'Origin: https://evil.example' );
    like( $r, qr{^HTTP/1.1 403}, 'on_origin returning false gives 403' );
    is( $seen{origin}, 'https://evil.example', 'on_origin got the Origin' );
    ($r) = raw_upgrade( $server, '/', 'Origin: https://good.example' );
    like( $r, qr{^HTTP/1.1 101}, 'a good origin is accepted' );
    my $client = WebSocket::Client->new( url( $server, '/connect-no' ) );
    ok( !$client->connect, 'our client is refused too' );
    like( $client->error, qr/403/, '... and its error names the status' );
};

subtest 'a callback that dies refuses the request with 500 and the exception propagates' => sub {
    my $server = WebSocket::Server->new(
        host       => '127.0.0.1',
        port       => 0,
        on_connect => sub { die "boom\n" },
    ) or die WebSocket::Server->error;
    $server->listen or die $server->error;
    my $sock = IO::Socket::INET->new( PeerAddr => '127.0.0.1', PeerPort => $server->port ) or die $!;
    print $sock "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    my $err;
    run_until( 'the exception', sub { $err = $@ unless eval { $server->poll(0.05); 1 }; $err } );
    is( $err, "boom\n", 'poll rethrew the exception of on_connect' );
    my $answer = '';
    sysread( $sock, $answer, 4096 );
    like( $answer, qr{^HTTP/1.1 500}, 'the request got 500' );
};

subtest 'subprotocols: the server list, or a choice in on_handshake' => sub {
    my $server = WebSocket::Server->new(
        host        => '127.0.0.1',
        port        => 0,
        subprotocol => [ 'v2.chat', 'v1.chat' ],
        on_connect  => sub {
            my ( $srv, $conn ) = @_;
            $conn->on_handshake(
                sub {
                    my ($c) = @_;
                    $c->subprotocol('beta') if grep { $_ eq 'beta' } $c->subprotocols;
                    return 1;
                }
            );
        },
    ) or die WebSocket::Server->error;
    $server->listen or die $server->error;
    my $c1 = WebSocket::Client->new( url($server), subprotocol => [ 'v1.chat', 'v2.chat' ] );
    $c1->connect or die $c1->error;
    is( $c1->subprotocol, 'v2.chat', 'the server preferred its first' );
    my $c2 = WebSocket::Client->new( url($server), subprotocol => [ 'alpha', 'beta' ] );
    $c2->connect or die $c2->error;
    is( $c2->subprotocol, 'beta', 'on_handshake chose beta' );
    # The server's side opens on its own I/O thread: its on_ready may come
    # after the client's.
    run_until( 'both server connections ready', sub { $server->connections == 2 } );
    is( ( $server->connections )[1]->subprotocol, 'beta', 'the connection knows it' );
    my $c3 = WebSocket::Client->new( url($server), subprotocol => ['gamma'] );
    ok( !$c3->connect, 'a client offering none we speak is refused' );
    like( $c3->error, qr/400/, '... with 400' );
};

subtest 'permessage-deflate' => sub {
    my @log;
    my $server = recording_server( \@log, extensions => 'permessage-deflate', compression_threshold => 0 );
    my @got;
    my $client = WebSocket::Client->new( url($server), extensions => 'permessage-deflate', on_utf8 => sub { push @got, $_[1] } );
    $client->connect or die $client->error;
    like( $client->extensions, qr/^permessage-deflate/, 'negotiated' );
    run_until( 'the server connection ready', sub { $server->connections == 1 } );
    like( ( $server->connections )[0]->extensions, qr/^permessage-deflate/, 'the server side agrees' );
    my $big = 'compressible ' x 10000;
    $client->send_utf8($big);
    run_until( 'echo', sub { @got } );
    is( $got[0], $big, 'a large compressed message round trip' );
};

subtest 'tick_period runs on_tick; stop shuts the server down' => sub {
    my @log;
    my ( $ticks, $shut ) = ( 0, 0 );
    my $t0 = Time::HiRes::time();
    my $server = recording_server(
        \@log,
        tick_period => 0.05,
        on_tick     => sub { $_[0]->stop if ++$ticks == 3 },
        on_shutdown => sub { $shut++ },
    );
    my $port = $server->listen->port;
    $server->start;
    my $took = Time::HiRes::time() - $t0;
    is( $ticks, 3, 'on_tick ran three times, then stop made start return' );
    cmp_ok( $took, '>=', 0.12, "... after about three periods ($took s)" );
    is( $shut, 1, 'stop shut the server down (on_shutdown ran)' );
    my $late = WebSocket::Client->new( "ws://127.0.0.1:$port/", timeout => 2 );
    ok( !$late->connect, 'nothing listens after stop' );
};

subtest 'shutdown closes open connections with 1001' => sub {
    my @log;
    my $server = recording_server( \@log );
    my @closed;
    my $client = WebSocket::Client->new( url($server), on_disconnect => sub { push @closed, $_[1] } );
    ok( $client->connect, 'a client connects' );
    my $shut = 0;
    my $url  = url($server);
    $server->on_shutdown( sub { $shut++ } );
    $server->shutdown;
    is( $shut, 1, 'on_shutdown ran' );
    is_deeply( \@closed, [WS_GONE], 'the client got 1001 (WS_GONE)' );
    is( ( events_named( \@log, 'disconnect' ) )[0][1], WS_GONE, 'and the server connection saw it close' );
    my $late = WebSocket::Client->new( $url, timeout => 2 );
    ok( !$late->connect, 'nothing listens after shutdown' );
};

subtest 'silence_max drops a client that stops answering pings' => sub {
    my @log;
    my $server = recording_server( \@log, silence_max => 0.2 );
    # A raw client that completes the handshake and then never reads nor writes.
    my $t0 = Time::HiRes::time();
    my ( $response, $sock ) = raw_upgrade( $server, '/quiet' );
    like( $response, qr{^HTTP/1.1 101}, 'handshake done' );
    run_until( 'the drop', sub { events_named( \@log, 'disconnect' ) }, 5 );
    my $took = Time::HiRes::time() - $t0;
    is( ( events_named( \@log, 'disconnect' ) )[0][1], WS_CLOSED_ABNORMALLY, 'closed with 1006' );
    like( ( events_named( \@log, 'error' ) )[0][1], qr/not even a pong/, 'on_error said why' );
    cmp_ok( $took, '>=', 0.3, "after two silences ($took s)" );
    # Our client answers pings by itself: it stays.
    my $client = WebSocket::Client->new( url($server) );
    $client->connect or die $client->error;
    my $until = Time::HiRes::time() + 0.8;
    WebSocket::FFI::wait_and_dispatch(0.05) while Time::HiRes::time() < $until;
    ok( $client->connected, 'a client that answers pings stays connected' );
    cmp_ok( scalar( events_named( \@log, 'disconnect' ) ), '==', 1, 'only the quiet one was dropped' );
};

subtest 'limits: max_payload_size, max_send_size, max_recv_size' => sub {
    my @log;
    my $server = recording_server( \@log, max_payload_size => 1000 );
    my @closed;
    my $client = WebSocket::Client->new( url($server), on_disconnect => sub { push @closed, $_[1] } );
    $client->connect or die $client->error;
    run_until( 'the server connection ready', sub { $server->connections == 1 } );
    my $conn = ( $server->connections )[0];
    is( $conn->max_recv_size, 1000, 'max_recv_size is the server max_payload_size' );
    is( $conn->max_send_size(10), $conn, 'max_send_size sets and chains' );
    ok( !defined $conn->send_utf8( 'x' x 11 ), 'a message over max_send_size is refused' );
    like( $conn->error, qr/max_send_size/, '... saying so' );
    ok( $conn->send_utf8( 'x' x 10 ), 'one at the limit goes' );
    $client->send_binary( 'y' x 1001 );
    run_until( 'the 1009', sub { @closed } );
    is( $closed[0], WS_MESSAGE_TOO_LARGE, 'a message over max_payload_size closes with 1009' );
};

subtest 'max_fragments_amount, both sides' => sub {
    require WebSocket::Frame;
    my @log;
    my $server = recording_server( \@log, max_fragments_amount => 2 );
    my ( $response, $sock ) = raw_upgrade( $server, '/frag' );
    like( $response, qr{^HTTP/1.1 101}, 'raw handshake' );
    my $fragments = sub {
        my @parts = @_;
        return join '', map {
            WebSocket::Frame->new(
                buffer => $parts[$_],
                opcode => $_ == 0 ? 1 : 0,
                fin    => $_ == $#parts ? 1 : 0,
                masked => 1
            )->to_bytes
        } 0 .. $#parts;
    };
    print $sock $fragments->( 'ab', 'cd' );
    run_until( 'two fragments', sub { events_named( \@log, 'utf8' ) } );
    is( ( events_named( \@log, 'utf8' ) )[0][1], 'abcd', 'two fragments make one message' );
    print $sock $fragments->( 'a', 'b', 'c' );
    run_until( 'the 1009', sub { events_named( \@log, 'error' ) } );
    like( ( events_named( \@log, 'error' ) )[0][1], qr/fragments/, 'three fragments fail the connection' );
    my $frame = WebSocket::Frame->new;
    my $until = Time::HiRes::time() + 5;
    my $close;
    while ( !defined $close && Time::HiRes::time() < $until ) {
        sysread( $sock, my $buf, 4096 ) or last;
        $frame->append($buf);
        while ( defined( my $m = $frame->next_bytes ) ) { $close = $m if $frame->is_close }
    }
    is( unpack( 'n', $close // '' ), WS_MESSAGE_TOO_LARGE, 'with close code 1009' );

    # Our client against a raw server that sends three fragments.
    my ( $port, $pid ) = raw_ws_server(
        sub {
            my ($peer) = @_;
            print $peer join '', map {
                WebSocket::Frame->new( buffer => $_->[0], opcode => $_->[1], fin => $_->[2] )->to_bytes
            } [ 'x', 1, 0 ], [ 'y', 0, 0 ], [ 'z', 0, 1 ];
            sysread( $peer, my $rest, 4096 );    # until the client closes
        }
    );
    my @closed;
    my $client = WebSocket::Client->new( "ws://127.0.0.1:$port/",
        max_fragments_amount => 2, on_disconnect => sub { push @closed, $_[1] } );
    ok( $client->connect, 'the client connects to the raw server' ) or diag $client->error;
    run_until( 'the client closes', sub { @closed } );
    like( $client->error // '', qr/fragments/, 'the client refused three fragments' );
    waitpid $pid, 0;
};

subtest 'client options: cookie, on_handshake, on_send, headers, version' => sub {
    my %seen;
    my $server = WebSocket::Server->new(
        host       => '127.0.0.1',
        port       => 0,
        on_connect => sub { $seen{cookie} = $_[1]->header('Cookie'); 1 },
    ) or die WebSocket::Server->error;
    $server->listen or die $server->error;
    my ( @order, @sent );
    my $client = WebSocket::Client->new(
        url($server),
        cookie       => { session => 'abc', lang => 'fr' },
        version      => 13,
        on_handshake => sub { push @order, 'handshake:' . ( $_[0]->header('Upgrade') // '' ) },
        on_connect   => sub { push @order, 'connect' },
        on_send      => sub { push @sent, [ @_[ 1, 2 ] ] },
    );
    $client->connect or die $client->error;
    is( $seen{cookie}, 'lang=fr; session=abc', 'the server got the cookie' );
    is_deeply( \@order, [ 'handshake:websocket', 'connect' ], 'on_handshake ran before on_connect, headers readable' );
    ok( ( grep { lc $_->[0] eq 'sec-websocket-accept' } $client->headers ), 'headers lists the response headers' );
    $client->send_utf8('é');
    $client->send_binary("\xff");
    is_deeply( \@sent, [ [ 'é', 'text' ], [ "\xff", 'binary' ] ], 'on_send saw both messages' );
    my $old = WebSocket::Client->new( url($server), version => 8 );
    ok( !$old->connect, 'version 8 is refused' );
    like( $old->error, qr/version 8 is not supported/, '... with a clear error' );
};

subtest 'errors: bad options, port in use, fatal' => sub {
    ok( !defined WebSocket::Server->new( version => 7 ), 'new with version 7 fails' );
    like( WebSocket::Server->error, qr/version 7 is not supported/, 'class error says why' );
    ok( !defined WebSocket::Server->new( port => 'http' ), 'a port that is not a number fails' );
    eval { WebSocket::Server->new( colour => 'blue' ) };
    like( $@, qr/unknown option 'colour'/, 'unknown options croak' );
    my $first = WebSocket::Server->new( host => '127.0.0.1', port => 0 );
    $first->listen or die $first->error;
    my $second = WebSocket::Server->new( host => '127.0.0.1', port => $first->port );
    ok( !$second->listen, 'listening on a port in use fails' );
    like( $second->error, qr/listen on 127\.0\.0\.1:\d+: .*in use/i, '... with a clear error' );
    my $fatal = WebSocket::Server->new( host => '127.0.0.1', port => $first->port, fatal => 1 );
    eval { $fatal->listen };
    isa_ok( $@, 'WebSocket::Exception', 'fatal => 1 dies with the exception' );
    my $bad_tls = WebSocket::Server->new( host => '127.0.0.1', port => 0, ssl_cert_file => '/nonexistent.pem', ssl_key_file => '/nonexistent.key' );
    ok( !$bad_tls->listen, 'a missing certificate fails listen' );
    like( $bad_tls->error, qr/ssl_cert_file/, '... naming the option' );
};

subtest 'TLS: a wss server with our client' => sub {
    my $dir = File::Temp->newdir;
    TestPeer::make_certs("$dir");
    my @log;
    my $server = recording_server( \@log, ssl_cert_file => "$dir/server.pem", ssl_key_file => "$dir/server.key" );
    ok( $server->is_ssl, 'is_ssl' );
    my @got;
    my $client = WebSocket::Client->new( 'wss://localhost:' . $server->port . '/', ssl_ca_file => "$dir/ca.pem", on_utf8 => sub { push @got, $_[1] } );
    ok( $client->connect, 'wss connect with our CA' ) or diag $client->error;
    ok( $client->is_secure, 'secure' );
    run_until( 'the server connection ready', sub { $server->connections == 1 } );
    ok( ( $server->connections )[0]->is_secure, 'the server connection is secure' );
    $client->send_utf8('über TLS');
    run_until( 'echo', sub { @got } );
    is( $got[0], 'über TLS', 'echo over TLS' );
};

use File::Temp ();
done_testing;

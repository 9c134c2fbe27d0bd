use strict;
use warnings;
use utf8;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/lib";
use Test::More;
use Config;
use File::Temp ();
use IO::Socket::INET;
use Scalar::Util ();
use Socket ();
use Time::HiRes ();

alarm 60;    # a hang fails the test instead of stalling the suite
use TestPeer qw( run_until raw_ws_server );
use WebSocket qw( :ws );
use WebSocket::Client;
use WebSocket::Server;

# Lifecycles and misuse: callbacks that call blocking methods, callbacks that
# die, objects kept alive by their own callbacks, reconnecting, non-blocking
# use, keepalive on the client side, mutual TLS, threads.

# Runs the event loop until $cond holds (5 s at most), keeping the first
# exception a callback threw instead of stopping; returns it.
sub dispatch_catching {
    my ($cond) = @_;
    my $err;
    my $until = Time::HiRes::time() + 5;
    until ( $cond->() || Time::HiRes::time() > $until ) {
        $err //= $@ unless eval { WebSocket::FFI::wait_and_dispatch(0.05); 1 };
    }
    return $err;
}

sub server {
    my (%opts) = @_;
    my $server = WebSocket::Server->new( host => '127.0.0.1', port => 0, %opts ) or die WebSocket::Server->error;
    $server->listen or die $server->error;
    return $server;
}

sub url { 'ws://127.0.0.1:' . $_[0]->port . ( $_[1] // '/' ) }

# Sends the texts given, one message each, as soon as a client is ready.
sub talker {
    my (@texts) = @_;
    return server( on_connect => sub { $_[1]->on( ready => sub { $_[0]->send_utf8($_) for @texts } ) } );
}

subtest 'disconnect in a callback does not run other callbacks inside it' => sub {
    my $server = talker( 'r1', 'r2' );
    my @trace;
    my $client = WebSocket::Client->new(
        url($server),
        on_utf8 => sub {
            my ( $c, $text ) = @_;
            push @trace, "enter $text";
            $c->disconnect( WS_OK, 'enough' );
            push @trace, "leave $text";
        },
    );
    $client->connect or die $client->error;
    $client->start;
    is( "@trace[0,1]", 'enter r1 leave r1', 'the first callback ran to its end before any other' );
    is( $client->close_code, WS_OK, 'the close completed (start ran until it did)' );
};

# A client whose first callback dies and whose second runs $between and
# then records itself; returns (the exception seen, what was recorded).
sub die_then {
    my ($between) = @_;
    my $server = talker( 'a', 'b' );
    my @done;
    my $client = WebSocket::Client->new(
        url($server),
        blocking => 0,
        on_utf8  => sub {
            my ( $c, $text ) = @_;
            die "callback a failed\n" if $text eq 'a';
            $between->($c);
            push @done, $text;
        },
    );
    $client->connect or die $client->error;
    my $err = dispatch_catching( sub { @done } );
    return ( $err, \@done );
}

subtest 'a callback that dies does not cut another one short' => sub {
    my ( $err, $done ) = die_then( sub { $_[0]->disconnect } );
    is( $err, "callback a failed\n", 'the exception of the first callback came out of poll' );
    is_deeply( $done, ['b'], 'the second callback ran to its end' );
};

subtest 'poll inside a callback does not rethrow an earlier callback\'s exception' => sub {
    my ( $err, $done ) = die_then( sub { $_[0]->poll } );    # a nested dispatch, after a's exception was kept
    is_deeply( $done, ['b'], 'the callback that polled ran to its end' );
    is( $err, "callback a failed\n", 'the outer dispatch rethrew a\'s exception' );
};

subtest 'a refusal that fails refuses anyway (500), it does not let the client in' => sub {
    my $server = server(
        on_connect => sub {
            $_[1]->on_handshake( sub { $_[0]->http_error( 302, 'elsewhere' ) } );    # not an error status
        },
    );
    my $client = WebSocket::Client->new( url($server) );
    ok( !$client->connect, 'the client is refused' );
    like( $client->error, qr/500/, '... with 500' );
};

subtest 'connections are freed after they close, even when their callbacks hold them' => sub {
    my @weak;
    my $server = server(
        on_connect => sub {
            my ( $srv, $conn ) = @_;
            # The usual style: the callbacks refer to $conn (a cycle).
            $conn->on( utf8 => sub { $conn->send_utf8( uc $_[1] ) }, disconnect => sub { $conn->{seen_close}++ } );
            push @weak, $conn;
            Scalar::Util::weaken( $weak[-1] );
        },
    );
    for ( 1 .. 5 ) {
        my $got;
        my $client = WebSocket::Client->new( url($server), on_utf8 => sub { $got = $_[1] } );
        $client->connect or die $client->error;
        $client->send_utf8('x');
        run_until( 'echo', sub { defined $got } );
        $client->disconnect;
    }
    ok( run_until( 'the objects to go', sub { !grep { defined } @weak } ), 'all 5 connection objects are gone' );
};

subtest 'refused requests leave nothing behind' => sub {
    my @weak;
    my $server = server(
        subprotocol => ['chat'],
        on_connect  => sub {
            my ( $srv, $conn ) = @_;
            $conn->on( ready => sub { $conn->send_utf8('never') } );    # a cycle, as usual
            push @weak, $conn;
            Scalar::Util::weaken( $weak[-1] );
            return $conn->request_uri->path ne '/no';
        },
    );
    for ( 1 .. 3 ) {
        my $client = WebSocket::Client->new( url($server), subprotocol => ['other'] );
        ok( !$client->connect, 'refused for its subprotocol' );
        like( $client->error, qr/400/, '... with 400' );
        my $denied = WebSocket::Client->new( url( $server, '/no' ) );
        ok( !$denied->connect, 'refused by on_connect' );
        like( $denied->error, qr/403/, '... with 403' );
    }
    is( scalar keys %{ $server->{pending} }, 0, 'no request is kept waiting' );
    is( scalar( grep { defined } @weak ), 0, 'no refused connection object is kept' );
};

subtest 'a client that leaves before the 101 ends its accepted connection' => sub {
    my ( @errors, @weak );
    my $server = server(
        on_connect => sub {
            my ( $srv, $conn ) = @_;
            $conn->on( error => sub { push @errors, $_[1] } );
            push @weak, $conn;
            Scalar::Util::weaken( $weak[-1] );
        },
    );
    my $sock = IO::Socket::INET->new( PeerAddr => '127.0.0.1', PeerPort => $server->port ) or die $!;
    print $sock "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    Time::HiRes::sleep(0.1);    # the request waits in the event queue, unanswered
    # Leave with a reset (linger 0), so the 101 written later fails.
    setsockopt( $sock, Socket::SOL_SOCKET(), Socket::SO_LINGER(), pack( 'ii', 1, 0 ) ) or die $!;
    close $sock;
    Time::HiRes::sleep(0.1);
    run_until( 'the error', sub { @errors } );
    like( $errors[0], qr/101/, 'on_error says the 101 could not be written' );
    ok( run_until( 'the object to go', sub { !grep { defined } @weak } ), 'the connection object is gone' );
    is( scalar keys %{ $server->{pending} }, 0, 'nothing waits for an open that will not come' );
};

subtest 'shutdown waits for a connection accepted but not yet open' => sub {
    my ( @trace, @weak );
    my $server = server(
        on_shutdown => sub { push @trace, 'shutdown' },
        on_connect  => sub {
            my ( $srv, $conn ) = @_;
            $conn->on( ready => sub { push @trace, 'ready' }, disconnect => sub { push @trace, "disconnect $_[1]" } );
            push @weak, $conn;
            Scalar::Util::weaken( $weak[-1] );
        },
    );
    my $client = WebSocket::Client->new( url($server), blocking => 0 );
    $client->connect or die $client->error;
    # Run exactly the handshake event: the request is accepted, its open not yet seen.
    my $fd    = $server->event_fd;
    my $until = Time::HiRes::time() + 5;
    until ( @weak || Time::HiRes::time() > $until ) {
        vec( my $rin = '', $fd, 1 ) = 1;
        select( $rin, undef, undef, 0.05 );
        WebSocket::FFI::dispatch(1);
    }
    is( scalar keys %{ $server->{pending} }, 1, 'one connection accepted, not yet open' );
    $server->shutdown;
    # Whether it got to on_ready depends on which came first in the library:
    # its open, or the close that stop asked for.
    is_deeply( [ grep { $_ ne 'ready' } @trace ], [ 'disconnect 1001', 'shutdown' ],
        'it was closed with 1001 (on_disconnect), then on_shutdown ran' );
    ok( !grep( { defined } @weak ), 'and its object is gone' );
};

subtest 'a handshake that timed out in the queue goes to on_error, even with fatal => 1' => sub {
    my @errors;
    my $server = server(
        fatal      => 1,
        timeout    => 0.2,
        on_connect => sub { $_[1]->on_error( sub { push @errors, $_[1] } ) },
    );
    my $sock = IO::Socket::INET->new( PeerAddr => '127.0.0.1', PeerPort => $server->port ) or die $!;
    print $sock "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    Time::HiRes::sleep(0.6);    # nobody dispatches: the library answers 503 meanwhile
    ok( eval { $server->poll; 1 }, 'poll does not die' ) or diag $@;
    is( scalar @errors, 1, 'the connection got on_error' );
    like( $errors[0] // '', qr/accept: .*timed out/, '... saying the handshake timed out' );
    sysread( $sock, my $answer, 4096 );
    like( $answer, qr{^HTTP/1.1 503}, 'the client got 503' );
};

subtest 'misuse: close codes out of range, NUL in reasons, fatal chaining, fatal on a connection' => sub {
    my $conn;
    my $server = server( on_connect => sub { $conn = $_[1]; $conn->fatal(1) } );
    my $client = WebSocket::Client->new( url($server) );
    is( $client->fatal(0), $client, 'fatal(0) returns the client (calls chain)' );
    is( $server->fatal(0), $server, 'fatal(0) returns the server' );
    $client->connect or die $client->error;
    ok( !defined $client->disconnect(66536), 'close code 66536 is refused (not wrapped to 1000)' );
    like( $client->error, qr/'66536' is not a number from 1000 to 4999/, '... saying so' );
    ok( !defined $client->disconnect( WS_OK, "a\0b" ), 'a reason with NUL is refused' );
    ok( $client->connected, 'and the connection is still open' );
    run_until( 'the server connection', sub { $server->connections } );
    eval { $conn->disconnect(999) };
    isa_ok( $@, 'WebSocket::Exception', 'a connection with fatal => 1 dies on misuse' );
    $client->disconnect;
    run_until( 'closed', sub { !$server->connections } );
    eval { $conn->send_utf8('late') };
    isa_ok( $@, 'WebSocket::Exception', '... and on send after close' );
    is( $@->code, -8, 'WS_ERR_NOT_OPEN' );
};

subtest 'a client connects again after its connection closed' => sub {
    my @got;
    my $server = server( on_connect => sub { $_[1]->on( utf8 => sub { $_[0]->send_utf8( $_[1] ) } ) } );
    my $client = WebSocket::Client->new( url($server), on_utf8 => sub { push @got, $_[1] } );
    for my $round ( 1 .. 3 ) {
        ok( $client->connect, "connect #$round" ) or diag $client->error;
        $client->send_utf8("round $round");
        run_until( "echo $round", sub { @got == $round } );
        $client->disconnect;
    }
    is_deeply( \@got, [ 'round 1', 'round 2', 'round 3' ], 'each connection worked' );
    $client->connect or die $client->error;
    ok( !defined $client->connect, 'connect while connected is refused' );
    like( $client->error, qr/already connected/, '... saying so' );
};

subtest 'blocking => 0: connect, disconnect and shutdown return at once' => sub {
    my ( $shut, @closed ) = (0);
    my $server = server(
        blocking    => 0,
        on_shutdown => sub { $shut++ },
        on_connect  => sub { $_[1]->on( utf8 => sub { $_[0]->send_utf8( $_[1] ) } ) },
    );
    my ( $open, @got ) = (0);
    my $client = WebSocket::Client->new(
        url($server),
        blocking      => 0,
        on_connect    => sub { $open++ },
        on_utf8       => sub { push @got, $_[1] },
        on_disconnect => sub { push @closed, $_[1] },
    );
    is( $client->connect, $client, 'connect returns the client at once' );
    is( $open, 0, '... before the connection is open' );
    run_until( 'open', sub { $open } );
    $client->send_utf8('hi');
    run_until( 'echo', sub { @got } );
    $server->shutdown;
    is( $shut, 0, 'shutdown returns before the close handshake' );
    run_until( 'shutdown', sub { $shut && @closed } );
    is_deeply( \@closed, [WS_GONE], 'the client got 1001' );
    is( $shut, 1, 'on_shutdown ran once the last connection closed' );

    my $unreachable = WebSocket::Client->new( 'ws://127.0.0.1:1/', blocking => 0, on_error => sub { push @got, 'error: ' . $_[1] } );
    ok( $unreachable->connect, 'a non-blocking connect to a closed port returns the client' );
    run_until( 'the error', sub { grep {/^error:/} @got } );
    like( ( grep {/^error:/} @got )[0], qr/refused/i, 'on_error tells the outcome' );
};

subtest 'on_tick runs from poll under an outside loop, as a callback, skipping missed ticks' => sub {
    my ( $ticks, $inside ) = ( 0, 0 );
    my $server = server( tick_period => 0.05, on_tick => sub { $ticks++; $inside += WebSocket::FFI::in_callback() } );
    Time::HiRes::sleep(0.3);    # six periods pass without a poll
    $server->poll;
    is( $ticks, 1, 'one tick for the missed ones' );
    my $t0 = Time::HiRes::time();
    $server->poll(0.02) while Time::HiRes::time() < $t0 + 0.3;
    my $periods = ( Time::HiRes::time() - $t0 ) / 0.05;
    cmp_ok( $ticks - 1, '>=', 2, 'then ticks ran as time passed' );
    cmp_ok( $ticks - 1, '<=', int($periods) + 1, "... at most one per period ($ticks in about $periods periods)" );
    is( $inside, $ticks, 'on_tick counts as a callback (blocking calls do not wait in it)' );
};

subtest 'client silence_max drops a server that stops answering' => sub {
    my ( $port, $pid ) = raw_ws_server(
        sub {
            my ($peer) = @_;
            1 while sysread( $peer, my $ignored, 4096 );    # reads the pings, never answers
        }
    );
    my ( @errors, @closed );
    my $client = WebSocket::Client->new(
        "ws://127.0.0.1:$port/",
        silence_max   => 0.2,
        on_error      => sub { push @errors, $_[1] },
        on_disconnect => sub { push @closed, $_[1] },
    );
    my $t0 = Time::HiRes::time();
    ok( $client->connect, 'connected to a server that will stay silent' ) or diag $client->error;
    run_until( 'the drop', sub { @closed } );
    is( $closed[0], WS_CLOSED_ABNORMALLY, 'closed with 1006' );
    like( $errors[0] // '', qr/not even a pong/, 'on_error says why' );
    cmp_ok( Time::HiRes::time() - $t0, '>=', 0.3, 'after two silences' );
    kill 'TERM', $pid;
    waitpid $pid, 0;
};

subtest 'mutual TLS: the server asks for a client certificate' => sub {
    my $dir = File::Temp->newdir;
    TestPeer::make_certs("$dir");
    my @got;
    my $server = server(
        ssl_cert_file => "$dir/server.pem",
        ssl_key_file  => "$dir/server.key",
        ssl_ca_file   => "$dir/ca.pem",
        on_connect    => sub { $_[1]->on( utf8 => sub { $_[0]->send_utf8( $_[1] ) } ) },
    );
    my $url = 'wss://localhost:' . $server->port . '/';
    my $with = WebSocket::Client->new( $url, ssl_ca_file => "$dir/ca.pem", ssl_cert_file => "$dir/client.pem",
        ssl_key_file => "$dir/client.key", on_utf8 => sub { push @got, $_[1] } );
    ok( $with->connect, 'a client with a certificate from the CA gets in' ) or diag $with->error;
    $with->send_utf8('mtls');
    run_until( 'echo', sub { @got } );
    is( $got[0], 'mtls', 'and talks' );
    my $without = WebSocket::Client->new( $url, ssl_ca_file => "$dir/ca.pem", timeout => 3 );
    ok( !$without->connect, 'a client without a certificate is refused' );
    like( $without->error // '', qr/certificate/i, '... and told about the certificate' );
    my $optional = server( ssl_cert_file => "$dir/server.pem", ssl_key_file => "$dir/server.key",
        ssl_ca_file => "$dir/ca.pem", ssl_client_cert_optional => 1 );
    my $anon = WebSocket::Client->new( 'wss://localhost:' . $optional->port . '/', ssl_ca_file => "$dir/ca.pem" );
    ok( $anon->connect, 'with ssl_client_cert_optional, a client without one gets in' ) or diag $anon->error;
};

SKIP: {
    skip 'this perl has no threads', 1 unless $Config{useithreads} && eval { require threads; 1 };
    subtest 'a thread does not free the handles of its parent' => sub {
        my @got;
        my $server = server( on_connect => sub { $_[1]->on( utf8 => sub { $_[0]->send_utf8( $_[1] ) } ) } );
        my $port   = $server->port;
        my $client = WebSocket::Client->new( url($server), on_utf8 => sub { push @got, $_[1] } );
        $client->connect or die $client->error;
        threads->create( sub { 1 } )->join;
        is( $server->port, $port, 'the server still listens' );
        ok( $client->connected, 'the client is still connected' );
        $client->send_utf8('after the thread');
        run_until( 'echo', sub { @got } );
        is( $got[0], 'after the thread', 'and works' );
        my $in_thread = threads->create(
            sub {
                my $other = WebSocket::Client->new( 'ws://127.0.0.1:1/', blocking => 0 );
                return eval { $other->connect; 'no error' } // "$@";
            }
        )->join;
        like( $in_thread, qr/only from the thread that loaded it/, 'another thread is told not to use the binding' );
    };
}

done_testing;

use strict;
use warnings;
use utf8;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes ();

alarm 90;    # a hang fails the test instead of stalling the suite
use TestPeer qw( run_until raw_ws_client read_frame );
use WebSocket qw( :ws );
use WebSocket::Client;
use WebSocket::FFI;
use WebSocket::Server;

# Topics (publish and subscribe), over loopback: the server subscribes each
# connection to the room its path names ("/room/red" -> "room:red") and
# publishes what a member says to its room (the chat pattern); clients in
# two rooms count what they get.

# A chat server; %$conns gets each ready connection by its client's port.
sub chat_server {
    my ( $conns, %opts ) = @_;
    my $server = WebSocket::Server->new(
        host       => '127.0.0.1',
        port       => 0,
        on_connect => sub {
            my ( $server, $conn ) = @_;
            my ($room) = $conn->request_uri->path =~ m{\A/room/(\w+)\z} or return 0;
            $conn->on(
                ready => sub {
                    my ($conn) = @_;
                    $conn->subscribe("room:$room") or die $conn->error;
                    $conns->{ $conn->port } = $conn;
                },
                utf8 => sub {
                    my ( $conn, $text ) = @_;
                    my $n = $conn->server->publish( "room:$room", $text );
                    die $conn->server->error unless defined $n;
                },
                binary => sub {
                    my ( $conn, $bytes ) = @_;
                    $conn->server->publish_binary( "room:$room", $bytes ) // die $conn->server->error;
                },
            );
        },
        %opts,
    ) or die WebSocket::Server->error;
    $server->listen or die $server->error;
    return $server;
}

# A client of room $room whose messages go into @$got.
sub member {
    my ( $server, $room, $got ) = @_;
    my $client = WebSocket::Client->new(
        'ws://127.0.0.1:' . $server->port . "/room/$room",
        on_utf8   => sub { push @$got, $_[1] },
        on_binary => sub { push @$got, [ binary => $_[1] ] },
    );
    $client->connect or die $client->error;
    return $client;
}

subtest 'two rooms: publish from the main loop and from on_utf8' => sub {
    my %conns;
    my $server = chat_server( \%conns );
    my @got = map { [] } 1 .. 5;
    my @red_members  = map { member( $server, 'red',  $got[$_] ) } 0 .. 2;
    my @blue_members = map { member( $server, 'blue', $got[$_] ) } 3 .. 4;
    run_until( 'five ready connections', sub { keys %conns == 5 } ) or return;
    is( $server->subscriber_count('room:red'),  3, 'red has 3 subscribers' );
    is( $server->subscriber_count('room:blue'), 2, 'blue has 2' );
    is( $server->subscriber_count('room:green'), 0, 'a topic nobody is on has 0' );

    is( $server->publish( 'room:red', 'héllo red' ), 3, 'publish from the main loop reaches 3' );
    run_until( 'every red member got it', sub { !grep { @{ $got[$_] } < 1 } 0 .. 2 } ) or return;
    is_deeply( [ map { $got[$_][0] } 0 .. 2 ], [ ('héllo red') x 3 ], 'the text arrives, characters intact' );
    is_deeply( [ map { scalar @{ $got[$_] } } 3 .. 4 ], [ 0, 0 ], 'blue got nothing' );

    # The chat pattern: a member speaks, its room hears (the speaker too).
    $blue_members[0]->send_utf8('blue says');
    run_until( 'both blue members got it', sub { !grep { @{ $got[$_] } < 1 } 3 .. 4 } ) or return;
    is_deeply( [ map { $got[$_][0] } 3 .. 4 ], [ ('blue says') x 2 ], 'published from on_utf8 to the room' );
    $red_members[2]->send_binary("\x00\xffbin");
    run_until( 'every red member got the bytes', sub { !grep { @{ $got[$_] } < 2 } 0 .. 2 } ) or return;
    is_deeply( $got[0][1], [ binary => "\x00\xffbin" ], 'publish_binary: a binary message, bytes intact' );
    is( $server->publish_binary( 'room:blue', "\x01\x02" ), 2, 'publish_binary from the main loop reaches 2' );
    run_until( 'blue got the bytes', sub { !grep { @{ $got[$_] } < 2 } 3 .. 4 } ) or return;
    is_deeply( $got[4][1], [ binary => "\x01\x02" ], '... as binary' );
    is( $server->publish_utf8( 'room:red', 'utf8 name' ), 3, 'publish_utf8 is publish' );
    is( $server->publish( 'room:nobody', 'x' ), 0, 'publish to a topic without subscribers: 0 (defined)' );

    # In order: what the Perl thread publishes reaches each subscriber in
    # order, after what was sent to it before.
    my ($red0) = grep { $_->is_subscribed('room:red') } map { $conns{$_} } sort keys %conns;
    $red0->send_utf8('direct');
    $server->publish( 'room:red', "m$_" ) for 1 .. 20;
    run_until( 'the 20 messages', sub { 3 * 20 + 1 <= grep { !ref && /\A(?:direct|m\d+)\z/ } map { @{ $got[$_] } } 0 .. 2 } )
      or return;
    for my $i ( 0 .. 2 ) {
        my @m = grep { !ref && /\A(?:direct|m\d+)\z/ } @{ $got[$i] };
        shift @m if @m && $m[0] eq 'direct';
        is_deeply( \@m, [ map {"m$_"} 1 .. 20 ], "red member $i got them in order (the direct message first)" );
    }

    # Unsubscribe, and subscribe to another topic.
    ok( $red0->unsubscribe('room:red'), 'unsubscribe returns the connection' );
    ok( $red0->unsubscribe('room:red'), 'unsubscribe again: no error' );
    is( $red0->is_subscribed('room:red'), 0, 'is_subscribed: 0 after it' );
    is( $red0->subscribe('room:green'), $red0, 'subscribe returns the connection' );
    ok( $red0->subscribe('room:green'), 'subscribe again: no error' );
    is( $red0->is_subscribed('room:green'), 1, 'is_subscribed: 1' );
    is( $server->subscriber_count('room:red'),   2, 'red has 2 now' );
    is( $server->subscriber_count('room:green'), 1, 'green has 1' );
    is( $server->publish( 'room:red', 'after' ), 2, 'red reaches 2' );
    ok( !defined $red0->error && !defined $server->error, 'no error on the way' );

    # Closing leaves every topic.
    $_->disconnect for @red_members, @blue_members;
    run_until( 'the server connections closed', sub { !$server->connections } ) or return;
    # (The library leaves a connection's topics as it lets go of it, which
    # may come just after its on_disconnect.)
    for my $topic (qw( room:red room:blue room:green )) {
        ok( run_until( "$topic to be left", sub { !$server->subscriber_count($topic) } ),
            "closed connections left $topic" );
    }
    is( $red0->is_subscribed('room:green'), 0, 'a closed connection is subscribed to nothing' );
    ok( !defined $red0->subscribe('room:green'), 'a closed connection cannot subscribe' );
    is( $red0->error->code, WebSocket::FFI::WS_ERR_NOT_OPEN, '... WS_ERR_NOT_OPEN' );
    ok( $red0->unsubscribe('room:green'), 'unsubscribe on a closed connection: nothing to leave, no error' );
    $server->shutdown;
    is( $server->subscriber_count('room:red'), 0, 'subscriber_count of a server that stopped: 0' );
    ok( !defined $server->publish( 'room:red', 'x' ), 'publish on a server that stopped fails' );
    is( $server->error->code, WebSocket::FFI::WS_ERR_BAD_STATE, '... WS_ERR_BAD_STATE' );
};

subtest 'bad arguments: error set, nothing dies' => sub {
    my %conns;
    my $server = chat_server( \%conns );
    my @got;
    my $client = member( $server, 'red', \@got );
    run_until( 'the connection', sub { keys %conns == 1 } ) or return;
    my ($conn) = values %conns;

    for my $case ( [ 'an empty name', '' ], [ 'undef', undef ], [ 'a NUL', "a\0b" ], [ '1025 bytes', 'x' x 1025 ],
        [ '513 two-byte characters', 'é' x 513 ] )
    {
        my ( $what, $name ) = @$case;
        ok( !defined $server->publish( $name, 'x' ), "publish to $what fails" );
        is( $server->error->code, WebSocket::FFI::WS_ERR_INVALID_ARGUMENT, '... WS_ERR_INVALID_ARGUMENT' );
        like( $server->error->message, qr/\Apublish: /, '... and says which call: ' . $server->error->message );
        ok( !defined $server->subscriber_count($name), "subscriber_count of $what fails" );
        for my $method (qw( subscribe unsubscribe is_subscribed )) {
            ok( !defined $conn->$method($name), "$method $what fails" );
            is( $conn->error->code, WebSocket::FFI::WS_ERR_INVALID_ARGUMENT, '... WS_ERR_INVALID_ARGUMENT' );
        }
    }
    my @list = $server->publish( '', 'x' );
    is( scalar @list, 0, 'a failed publish in list context: an empty list' );
    is( $server->publish( 'x' x 1024, 'x' ), 0, 'a name of 1024 bytes is fine' );
    ok( $conn->subscribe('é' x 512) && $server->subscriber_count( 'é' x 512 ) == 1, 'so is one of 1024 UTF-8 bytes' );

    # Text that cannot be UTF-8: a surrogate.
    {
        no warnings;    # Perl may warn about the surrogate
        ok( !defined $server->publish( 'room:red', "bad \x{D800}" ), 'publish of text with a surrogate fails' );
    }
    is( $server->error->code, -11, '... WS_ERR_INVALID_UTF8' );
    ok( !defined eval { $server->publish_binary( 'room:red', "\x{263A}" ); 1 }, 'publish_binary of characters croaks' );
    like( $@, qr/wide character/, '... saying so' );
    ok( !eval { $server->publish( 'room:red', 'x', compress => 1 ); 1 }, 'publish with options croaks' );
    is( $server->publish( 'room:red', '' ), 1, 'an empty message is fine' );
    is( $server->publish( 'room:red', undef ), 1, 'so is undef (as the empty text)' );
    run_until( 'both', sub { @got >= 2 } );
    is_deeply( \@got, [ '', '' ], 'they arrive empty' );

    # During the handshake a connection cannot subscribe yet.
    my $early;
    $server->on_connect( sub { my $c = $_[1]; $early = [ scalar $c->subscribe('t'), $c->error && $c->error->code, $c->is_subscribed('t') ]; 1 } );
    my $late = WebSocket::Client->new( 'ws://127.0.0.1:' . $server->port . '/' );
    $late->connect;
    run_until( 'the second request', sub { $early } ) or return;
    is_deeply( $early, [ undef, WebSocket::FFI::WS_ERR_NOT_OPEN, 0 ], 'subscribe in on_connect: WS_ERR_NOT_OPEN; is_subscribed: 0' );

    # Under fatal, a bad name dies with the exception.
    $server->fatal(1);
    ok( !eval { $server->publish( '', 'x' ); 1 }, 'fatal: publish to a bad name dies' );
    isa_ok( $@, 'WebSocket::Exception' );
    $server->fatal(0);

    # The slow_subscriber option.
    ok( !defined WebSocket::Server->new( slow_subscriber => 'drop' ), "slow_subscriber => 'drop' is refused" );
    like( WebSocket::Server->error->message, qr/slow_subscriber must be 'skip' or 'close'/, '... saying what it takes' );
    ok( WebSocket::Server->new( slow_subscriber => $_ ), "slow_subscriber => '$_' is taken" ) for qw( skip close );
    $server->shutdown;
};

# A subscriber that never reads: its send queue (64 MiB by default) fills.
# Publishes 4 MiB messages until $done says so or 40 were published
# (160 MiB: more than the queue and the socket buffers take); returns how
# many were.
sub flood {
    my ( $server, $done ) = @_;
    my $chunk = 'z' x ( 4 << 20 );
    my $sent  = 0;
    while ( $sent < 40 && !$done->() ) {
        defined $server->publish_binary( 'room:feed', $chunk ) or die $server->error;
        $sent++;
        $server->poll(0.02);
    }
    return $sent;
}

subtest "slow_subscriber => 'skip': a client that does not read misses messages and stays" => sub {
    my ( $conn, $closed );
    my $server = WebSocket::Server->new(
        host       => '127.0.0.1',
        port       => 0,
        on_connect => sub {
            $_[1]->on(
                ready      => sub { $conn = $_[0]; $conn->subscribe('room:feed') },
                disconnect => sub { $closed = $_[1] },
            );
        },
    ) or die WebSocket::Server->error;
    $server->listen or die $server->error;
    my ($sock) = raw_ws_client( $server->port );
    run_until( 'the connection', sub { $conn } ) or return;
    my $sent = flood( $server, sub {$closed} );
    is( $sent, 40, 'all 40 published' );
    ok( $conn->is_ready && !defined $closed, 'the connection is still open' );
    is( $conn->is_subscribed('room:feed'), 1, '... and subscribed' );
    cmp_ok( $conn->buffered_amount, '<=', 64 << 20, 'at most the send queue limit waits for it' );
    close $sock;
    run_until( 'the close', sub { defined $closed } );
    $server->shutdown;
};

subtest "slow_subscriber => 'close': a client that does not read is closed with 1008" => sub {
    my ( $conn, $closed );
    my $server = WebSocket::Server->new(
        host            => '127.0.0.1',
        port            => 0,
        slow_subscriber => 'close',
        on_connect      => sub {
            $_[1]->on(
                ready      => sub { $conn = $_[0]; $conn->subscribe('room:feed') },
                disconnect => sub { $closed = $_[1] },
            );
        },
    ) or die WebSocket::Server->error;
    $server->listen or die $server->error;
    my ($sock) = raw_ws_client( $server->port );
    run_until( 'the connection', sub { $conn } ) or return;
    my $sent = flood( $server, sub { !$conn->is_ready } );
    cmp_ok( $sent, '<', 40, "it was closing after $sent messages" );
    # It never reads, so its close handshake cannot finish: the close timeout ends it.
    run_until( 'on_disconnect', sub { defined $closed }, 10 ) or return;
    run_until( 'the topic to be left', sub { !$server->subscriber_count('room:feed') }, 10 );
    ok( $closed == WS_FORBIDDEN || $closed == WS_CLOSED_ABNORMALLY, "closed with 1008 (or 1006 at the close timeout): $closed" );
    close $sock;
    $server->shutdown;
};

done_testing;

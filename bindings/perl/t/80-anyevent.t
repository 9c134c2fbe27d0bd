use strict;
use warnings;
use utf8;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/lib";
use Test::More;

BEGIN {
    eval { require AnyEvent; 1 }
      or plan skip_all => 'AnyEvent is not installed (apt-get install libanyevent-perl)';
}

alarm 30;    # a hang fails the test instead of stalling the suite
use TestPeer qw( start_echo );
use WebSocket qw( :ws );
use WebSocket::Client;

# The client inside an AnyEvent loop: its event_fd watched with AnyEvent->io,
# poll() run when it is readable, while AnyEvent timers keep firing in the same
# loop, against build/echo_server.

my $peer = start_echo();
my ( @log, @texts, @binaries, @pongs, $closed );
my $done = AnyEvent->condvar;
my @want = ( map( {"m$_"} 1 .. 20 ), 'héllo ☃ 𝄞' );
my $bin  = join '', map { chr } 0 .. 255;

my $c = WebSocket::Client->new(
    $peer->url,
    timeout   => 5,
    on_utf8   => sub { push @texts, $_[1]; push @log, 'text' },
    on_binary => sub { push @binaries, $_[1]; push @log, 'binary' },
    on_pong   => sub { push @pongs, $_[1]; push @log, 'pong' },
    on_disconnect => sub {
        my ( $client, $code, $reason ) = @_;
        $closed = [ $code, $reason ];
        push @log, 'close';
        $done->send('closed');
    },
);
ok( $c->connect, 'connects (before the loop runs)' ) or diag $c->error;

my $fd = $c->event_fd;
ok( defined $fd && $fd >= 0, "event_fd is a descriptor ($fd)" );
is( $c->poll, 0, 'nothing queued before anything is sent' );

my ( $wakeups, $events, $ticks, $ticks_before_send ) = ( 0, 0, 0 );
my $io = AnyEvent->io(
    fh   => $fd,    # a naked descriptor: AnyEvent watches it without taking it over
    poll => 'r',
    cb   => sub { $wakeups++; $events += $c->poll(0) },
);

# A repeating timer that fires all along: the loop is not blocked by the client.
my $tick = AnyEvent->timer( after => 0.01, interval => 0.01, cb => sub { $ticks++ } );

# Nothing is sent until a timer of the same loop fires, so the messages can only
# arrive if the loop runs both kinds of watchers.
my $send = AnyEvent->timer(
    after => 0.2,
    cb    => sub {
        $ticks_before_send = $ticks;
        push @log, 'send';
        $c->send_utf8($_) or diag $c->error for @want;
        $c->send_binary($bin) or diag $c->error;
        $c->ping('are you there') or diag $c->error;
        # Once everything has come back, ask the server to close (4000 "bye").
    },
);
my $asked_close;
my $check = AnyEvent->timer(
    after    => 0.05,
    interval => 0.05,
    cb       => sub {
        return if $asked_close || @texts < @want || !@binaries || !@pongs;
        $asked_close = 1;
        $c->send_utf8('close-me') or diag $c->error;
    },
);
my $guard = AnyEvent->timer( after => 10, cb => sub { $done->send('timeout') } );

is( $done->recv, 'closed', 'the condvar is sent by on_disconnect (not by the 10 s guard)' );
undef $_ for $io, $tick, $send, $check, $guard;

is_deeply( \@texts, [ @want ], 'every text message comes back, in order, wide characters intact' );
is( scalar @binaries, 1, 'one binary message' );
ok( @binaries && $binaries[0] eq $bin, 'the binary message holds every byte value' );
is_deeply( \@pongs, ['are you there'], 'the ping is answered with its payload' );
is_deeply( $closed, [ 4000, 'bye' ], 'the server close code and reason are delivered' );
is( $c->close_code,   4000,  'close_code' );
is( $c->close_reason, 'bye', 'close_reason' );
ok( !$c->connected, 'no longer connected' );
is( $log[0], 'send', 'nothing arrived before the timer sent it' );
is( $log[-1], 'close', 'the close comes last' );
ok( $ticks_before_send >= 5, "the repeating timer fired while the client was connected ($ticks_before_send ticks before the send)" );
ok( $ticks > $ticks_before_send, "and kept firing while messages flowed ($ticks ticks in all)" );
ok( $wakeups >= 1, "the io watcher woke up on event_fd ($wakeups times)" );
ok( $events >= @want + 3, "poll(0) ran the events ($events)" );
is( $c->poll, 0, 'nothing is left queued' );

# A second round: two clients at once on the same loop (the event queue is
# shared, so one watcher on event_fd serves both), each closed by the server.
{
    my $cv = AnyEvent->condvar;
    my ( %got, %closed );
    my @clients = map {
        my $name = $_;
        WebSocket::Client->new(
            $peer->url,
            on_utf8 => sub {
                my ( $cl, $text ) = @_;
                push @{ $got{$name} }, $text;
                $cl->send_utf8('close-me') if @{ $got{$name} } == 3;
            },
            on_disconnect => sub { $closed{$name} = $_[1]; $cv->end },
        );
    } qw( a b );
    for my $cl (@clients) {
        ok( $cl->connect, 'another client connects' ) or diag $cl->error;
        $cv->begin;
    }
    my $w = AnyEvent->io( fh => $clients[0]->event_fd, poll => 'r', cb => sub { WebSocket::Client->poll } );
    my $g = AnyEvent->timer( after => 10, cb => sub { $cv->send } );
    $clients[0]->send_utf8("a$_") for 1 .. 3;
    $clients[1]->send_utf8("b$_") for 1 .. 3;
    $cv->recv;
    is_deeply( \%got, { a => [qw( a1 a2 a3 )], b => [qw( b1 b2 b3 )] }, 'each client gets its own messages' );
    is_deeply( \%closed, { a => 4000, b => 4000 }, 'both are closed by the server' );
}

# Everything from inside the loop: a WebSocket::Server and a client made,
# connected, closed and shut down by AnyEvent timers, with blocking => 0, so
# that no call blocks the loop (a 10 ms timer measures the longest gap).
{
    require WebSocket::Server;
    my $cv = AnyEvent->condvar;
    my ( @got, @trace, $client );
    # Done once the server has shut down and the client has seen its close
    # (with several I/O threads, either may come first).
    $cv->begin for 1 .. 2;
    my $server = WebSocket::Server->new(
        host        => '127.0.0.1',
        port        => 0,
        blocking    => 0,
        on_shutdown => sub { push @trace, 'shutdown'; $cv->end },
        on_connect  => sub {
            $_[1]->on(
                utf8       => sub { $_[0]->send_utf8( scalar reverse $_[1] ) },
                disconnect => sub { push @trace, "server saw $_[1]" },
            );
        },
    );
    ok( $server->listen, 'a server listens inside the AnyEvent test' ) or diag $server->error;
    my $w = AnyEvent->io( fh => $server->event_fd, poll => 'r', cb => sub { $server->poll(0) } );
    my ( $last, $gap ) = ( AnyEvent->time, 0 );
    my $tick = AnyEvent->timer(
        after    => 0.01,
        interval => 0.01,
        cb       => sub {
            my $now = AnyEvent->time;
            $gap  = $now - $last if $now - $last > $gap;
            $last = $now;
        },
    );
    my $start = AnyEvent->timer(
        after => 0.05,
        cb    => sub {
            $client = WebSocket::Client->new(
                'ws://127.0.0.1:' . $server->port . '/',
                blocking      => 0,
                on_connect    => sub { push @trace, 'open'; $_[0]->send_utf8('stressed') },
                on_utf8       => sub { push @got, $_[1]; $server->shutdown },
                on_disconnect => sub { push @trace, "client saw $_[1]"; $cv->end },
            );
            $client->connect or diag $client->error;
        },
    );
    my $g = AnyEvent->timer( after => 10, cb => sub { $cv->send } );
    $cv->recv;
    is_deeply( \@got, ['desserts'], 'the in-process server answered' );
    is_deeply( [ sort @trace ], [ sort 'open', 'client saw 1001', 'server saw 1001', 'shutdown' ],
        'open, then shutdown closed both ends with 1001 and ran on_shutdown' );
    cmp_ok( $gap, '<', 0.2, sprintf( 'the loop was never blocked (longest gap between ticks %.3f s)', $gap ) );
}

done_testing;

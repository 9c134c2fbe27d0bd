use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/lib";
use Test::More;

alarm 60;    # a hang fails the test instead of stalling the suite
use TestPeer qw( start_echo start_echo_at run_until );
use WebSocket::Client;

# The reconnect option: the echo server stops and starts again on the same
# port; the client's attempts in between are announced by on_reconnect
# (each delay within its bounds), sends fail while it has no connection,
# and once the server is back the same client object sends again.
my $peer = start_echo();
my $port = $peer->port;
my ( @events, @delays, @got );
my $c = WebSocket::Client->new(
    $peer->url,
    reconnect      => { delay => 0.02, max_delay => 0.08 },
    on_connect     => sub { push @events, 'connect' },
    on_disconnect  => sub { push @events, "disconnect $_[1]" },
    on_reconnect   => sub { push @events, "reconnect $_[1]"; push @delays, [ @_[ 1, 2 ] ] },
    on_reconnected => sub { push @events, "reconnected $_[1]" },
    on_utf8        => sub { push @got, $_[1] },
);
ok( $c->connect, 'connects' ) or diag $c->error;
ok( $c->send_utf8('one'), 'sends' );
run_until( 'the echo', sub { @got == 1 } );

$peer->stop;
run_until( 'three attempts', sub { grep { /^reconnect 3$/ } @events } );
ok( $c->reconnecting, 'reconnecting' );
ok( !$c->connected, 'not connected' );
ok( !defined $c->send_utf8('lost'), 'a send fails while reconnecting' );
is( $c->error->code, -8, '... with WS_ERR_NOT_OPEN' );
like( $events[1], qr/^disconnect (1001|1006)$/, 'on_disconnect for the lost connection' );

$peer = start_echo_at($port);
run_until( 'the reconnection', sub { grep { /^reconnected/ } @events } );
ok( $c->connected, 'connected again' );
is( ( grep { $_ eq 'connect' } @events ), 2, 'on_connect for each connection that opened' );
my ($n) = $events[-1] =~ /^reconnected (\d+)$/;
is( $n, scalar @delays, 'on_reconnected names the attempt that opened' );
for my $d (@delays) {
    my ( $attempt, $delay ) = @$d;
    my $ceiling = 0.02 * 2**( $attempt - 1 );
    $ceiling = 0.08 if $ceiling > 0.08;
    ok( $delay >= $ceiling / 2 - 0.0005 && $delay <= $ceiling + 0.0005, "attempt $attempt waits $delay s, within its bounds" );
}
ok( $c->send_utf8('two'), 'the same client sends on its new connection' );
run_until( 'the echo', sub { @got == 2 } );
is( $got[1], 'two', 'and gets the echo' );

# disconnect ends the client for good.
ok( $c->disconnect, 'disconnect' );
ok( !$c->reconnecting && !$c->connected, 'closed, not reconnecting' );
$peer->stop;
select( undef, undef, undef, 0.2 );
$c->poll;
is( ( grep { /^reconnect \d/ } @events ), scalar @delays, 'no attempt after disconnect' );

# disconnect from on_reconnect stops reconnecting; max_tries ends it too.
{
    my ( $attempts, $closes ) = ( 0, 0 );
    my $gone = start_echo();
    my $url  = $gone->url;
    $gone->stop;
    my $d = WebSocket::Client->new(
        $url,
        blocking     => 0,
        reconnect    => { delay => 0.005, max_delay => 0.02 },
        on_reconnect => sub { $attempts++; $_[0]->disconnect if $_[1] == 2 },
        on_error     => sub { $closes++ },
    );
    ok( $d->connect, 'a non-blocking connect to a closed port' );
    run_until( 'the end', sub { !$d->reconnecting && $attempts == 2 } );
    select( undef, undef, undef, 0.1 );
    $d->poll;
    is( $attempts, 2,  'no attempt after disconnect in on_reconnect' );
    is( $closes,   2,  'two connections failed' );

    my $tries = 0;
    my $e     = WebSocket::Client->new( $url, reconnect => { delay => 0.005, max_delay => 0.02, max_tries => 2 },
        on_reconnect => sub { $tries++ } );
    ok( !$e->connect, 'a blocking connect fails once max_tries are used up' );
    is( $tries, 2, 'after two attempts' );
    is( $e->error->code, -5, 'with WS_ERR_CONNECT' );
}

# The option is checked.
for my $bad (
    [ 'a negative delay', { delay => -1 } ],
    [ 'an unknown key',   { nope  => 1 } ],
    [ 'an array',         [] ],
    [ 'a longest delay below the first', { delay => 2, max_delay => 1 } ],
    [ 'a fractional max_tries', { max_tries => 1.5 } ],
  )
{
    my $x = WebSocket::Client->new( $peer->url, reconnect => $bad->[1] );
    ok( !$x->connect, "refused: $bad->[0]" );
    is( $x->error->code, -2, '... as an invalid argument' );
}

done_testing;

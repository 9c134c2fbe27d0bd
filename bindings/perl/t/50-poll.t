use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/lib";
use Test::More;

alarm 30;    # a hang fails the test instead of stalling the suite
use TestPeer qw( start_echo );
use WebSocket::Client;

# The client used from a hand-written select() loop, as an event loop would.
my $peer = start_echo();
my ( $opened, @got, $closed );
my $c = WebSocket::Client->new(
    $peer->url,
    on_connect    => sub { $opened++ },
    on_utf8       => sub { push @got, $_[1]; $_[0]->send_utf8('close-me') if @got == 3 },
    on_disconnect => sub { $closed = $_[1] },
);
ok( $c->connect, 'connects' );
is( $c->poll, 0, 'poll with nothing pending returns 0 at once' );
$c->send_utf8("m$_") for 1 .. 3;

my $fd = $c->event_fd;
ok( $fd >= 0, 'event_fd' );
my ( $wakeups, $events ) = ( 0, 0 );
my $deadline = time + 5;
while ( !defined $closed && time < $deadline ) {
    my $rin = '';
    vec( $rin, $fd, 1 ) = 1;
    my $n = select( my $rout = $rin, undef, undef, 1 );
    next unless $n > 0;
    $wakeups++;
    $events += $c->poll;
}
is_deeply( \@got, [qw( m1 m2 m3 )], 'the messages arrive through poll' );
is( $closed, 4000, 'and the close' );
ok( $wakeups >= 1, 'select woke up on the event fd' );
ok( $events >= 4, "poll counted the events ($events)" );
is( $c->poll, 0, 'nothing left afterwards' );
{
    my $rin = '';
    vec( $rin, $fd, 1 ) = 1;
    is( select( my $rout = $rin, undef, undef, 0.1 ), 0, 'the event fd is no longer readable' );
}

done_testing;

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/lib";
use Test::More;
use POSIX ();

alarm 120;    # a hang fails the test instead of stalling the suite
use TestPeer qw( run_until );
use WebSocket qw( :ws );
use WebSocket::Client;
use WebSocket::Server;

# A preforking server: the parent uses the library first (a server and a
# client of its own, kept across the fork), then forks workers. Each worker
# finds the parent's objects refused with the documented error, runs a
# WebSocket::Server of its own and echoes one client; the parent is that
# client for each of them.

use constant WORKERS => 3;
use constant WS_ERR_BAD_STATE => -15;

# The parent's own server and client, used before the fork.
my @echoed;
my $server = WebSocket::Server->new(
    host       => '127.0.0.1',
    port       => 0,
    on_connect => sub { $_[1]->on( utf8 => sub { $_[0]->send_utf8( $_[1] ) } ); 1 },
) or die WebSocket::Server->error;
$server->listen or die $server->error;
my $client = WebSocket::Client->new( 'ws://127.0.0.1:' . $server->port . '/', on_utf8 => sub { push @echoed, $_[1] } );
$client->connect or die $client->error;
$client->send_utf8('before the fork');
run_until( 'the echo before the fork', sub { @echoed == 1 } );

# A short-lived client too, closed before the fork.
my $gone = WebSocket::Client->new( 'ws://127.0.0.1:' . $server->port . '/' );
$gone->connect or die $gone->error;
$gone->disconnect;

# In a worker: what is wrong with the parent's objects there ("" if nothing).
sub inherited_problems {
    my @problems;
    my $sent = $client->send_utf8('from a worker');
    my $e    = $client->error;
    push @problems, 'a send on the inherited client did not fail' if $sent;
    push @problems, 'the send failed with ' . ( $e ? $e->code . ' ' . $e->message : 'no error' )
      unless $e && $e->code == WS_ERR_BAD_STATE && $e->message =~ /this handle belongs to the parent process/;
    $client->fatal(1);
    push @problems, 'a fatal inherited client did not croak'
      if eval { $client->disconnect; 1 };
    push @problems, "the croak is not the documented error: $@"
      unless ref $@ && $@->code == WS_ERR_BAD_STATE && $@->message =~ /this handle belongs to the parent process/;
    push @problems, 'the inherited server has a port' if $server->port;
    return join '; ', @problems;
}

# A worker: checks the inherited objects, then serves one client an echo on a
# server of its own, whose port it writes to $report first. Exits 0 when all
# went well (the inherited objects are freed at exit, which must be safe).
sub worker {
    my ($report) = @_;
    my $problems = inherited_problems();
    my $echoes   = 0;
    my $mine     = WebSocket::Server->new(
        host       => '127.0.0.1',
        port       => 0,
        on_connect => sub {
            my ( $srv, $conn ) = @_;
            $conn->on(
                utf8       => sub { $echoes++; $_[0]->send_utf8("worker $$: $_[1]") },
                disconnect => sub { $srv->shutdown },
            );
            1;
        },
    );
    my $port = $mine && $mine->listen ? $mine->port : 0;
    print {$report} "$port $problems\n";
    close $report;
    $mine->start if $port;
    exit( $port && $echoes == 1 && $problems eq '' ? 0 : 1 );
}

my %workers;    # pid => reading end of its report pipe
for ( 1 .. WORKERS ) {
    pipe( my $from_worker, my $to_parent ) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ( $pid == 0 ) {
        close $from_worker;
        worker($to_parent);
    }
    close $to_parent;
    $workers{$pid} = $from_worker;
}

for my $pid ( sort keys %workers ) {
    my $line = readline $workers{$pid};
    my ( $port, $problems ) = ( $line // '0' ) =~ /^(\d+) ?(.*)$/;
    is( $problems, '', "worker $pid: the parent's objects fail with the documented error" );
    ok( $port, "worker $pid listens on a server of its own" ) or next;
    my @got;
    my $c = WebSocket::Client->new( "ws://127.0.0.1:$port/", on_utf8 => sub { push @got, $_[1] } );
    ok( $c->connect, "connected to worker $pid" ) or next;
    $c->send_utf8('hello');
    run_until( "the echo of worker $pid", sub { @got == 1 } );
    is( $got[0], "worker $pid: hello", "worker $pid echoes" );
    $c->disconnect;
}

for my $pid ( sort keys %workers ) {
    is( waitpid( $pid, 0 ), $pid, "worker $pid ends" );
    is( $?, 0, "worker $pid passed its checks and exited cleanly" );
}

$client->send_utf8('after the fork');
run_until( 'the echo after the fork', sub { @echoed == 2 } );
is( $echoed[1], 'after the fork', "the parent's client and server still work" );
$client->disconnect;
$server->shutdown;

done_testing;

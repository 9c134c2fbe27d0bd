use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/lib";
use Test::More;

alarm 30;    # a hang fails the test instead of stalling the suite
use TestPeer qw( start_echo );
use WebSocket::Client;

my $peer = start_echo('--deflate');
my @got;
my $c = WebSocket::Client->new(
    $peer->url,
    extensions            => 'permessage-deflate',
    compression_threshold => 0,
    on_recv               => sub { push @got, $_[1] },
);
ok( $c->connect, 'connects offering permessage-deflate' ) or diag $c->error;
like( $c->extensions, qr/^permessage-deflate/, 'permessage-deflate is negotiated' );
my @sent = ( 'short', 'a' x 100_000, join( '', map { chr( $_ % 256 ) } 0 .. 70_000 ) );
$c->send_utf8( $sent[0] );
$c->send_utf8( $sent[1] );
$c->send_binary( $sent[2] );
my $deadline = time + 5;
WebSocket::FFI::wait_and_dispatch(0.2) until @got == 3 || time > $deadline;
is( scalar @got, 3, 'every message comes back' );
ok( $got[$_] eq $sent[$_], "message $_ is identical" ) for 0 .. 2;
ok( $c->disconnect, 'closes' );

my $no_deflate = start_echo();
my $plain = WebSocket::Client->new( $no_deflate->url, extensions => 'permessage-deflate' );
ok( $plain->connect, 'a server without deflate still accepts the client' );
is( $plain->extensions, '', '... with no extension in use' );
ok( $plain->disconnect, '... and closes' );

done_testing;

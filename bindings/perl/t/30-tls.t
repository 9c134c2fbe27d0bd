use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/lib";
use Test::More;

alarm 30;    # a hang fails the test instead of stalling the suite
use File::Temp ();
use TestPeer qw( start_echo make_certs );
use WebSocket qw( :ws );
use WebSocket::Client;

my $dir = File::Temp->newdir;
my ( $ca, $cert, $key ) = make_certs("$dir");
my $peer = start_echo( '--tls-cert', $cert, '--tls-key', $key );
is( $peer->scheme, 'wss', 'the server speaks TLS' );

for my $host (qw( localhost 127.0.0.1 )) {
    my @got;
    my $c = WebSocket::Client->new( $peer->url($host), ssl_ca_file => $ca, timeout => 5,
        on_utf8 => sub { push @got, $_[1] } );
    ok( $c->connect, "wss://$host with ssl_ca_file connects" ) or diag $c->error;
    ok( $c->is_secure, '... over TLS' );
    $c->send_utf8('secret');
    my $deadline = time + 5;
    $c->poll, select( undef, undef, undef, 0.02 ) until @got || time > $deadline;
    is_deeply( \@got, ['secret'], '... and the message comes back' );
    ok( $c->disconnect, '... and closes' );
}

my $u = WebSocket::Client->new( $peer->url('localhost'), timeout => 5 );
ok( !defined $u->connect, 'without ssl_ca_file the connection fails' );
like( $u->error->message, qr/certificate/i, '... with an error about the certificate' );
is( $u->error->code, -17, '... WS_ERR_TLS' );

my $v = WebSocket::Client->new( $peer->url, ssl_no_verify => 1, timeout => 5 );
ok( $v->connect, 'ssl_no_verify connects anyway' ) or diag $v->error;
ok( $v->disconnect, '... and closes' );

my $m = WebSocket::Client->new( $peer->url, ssl_ca_file => "$dir/missing.pem" );
ok( !defined $m->connect, 'a missing CA file fails' );
like( $m->error, qr/ssl_ca_file/, '... naming the option' );

done_testing;

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/lib";
use Test::More;

alarm 30;    # a hang fails the test instead of stalling the suite
use File::Temp ();
use TestPeer qw( start_echo make_certs run_until );
use WebSocket qw( :ws );
use WebSocket::Client;
use WebSocket::Server;

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

# --- A server of ours: certificates by name (ssl_sni) and reload_ssl --------

my ( $ca2, $cert2, $key2 ) = make_certs( "$dir", 'second-' );

# An echoing TLS server on a free port of 127.0.0.1.
sub echo_server {
    my $server = WebSocket::Server->new(
        host       => '127.0.0.1',
        port       => 0,
        on_connect => sub { $_[1]->on( utf8 => sub { $_[0]->send_utf8( $_[1] ) } ); 1 },
        @_,
    ) or die WebSocket::Server->error;
    return $server;
}

# The messages each client of client_of received, by client.
my %received;

# A client of $server at $host trusting $ca_file: connected (and echoing
# 'hello'), or undef with the client's error.
sub client_of {
    my ( $server, $host, $ca_file ) = @_;
    my @got;
    my $c = WebSocket::Client->new( "wss://$host:" . $server->port . '/', ssl_ca_file => $ca_file, timeout => 5,
        on_utf8 => sub { push @got, $_[1] } );
    return ( undef, $c->error ) unless $c->connect;
    $received{$c} = \@got;
    return $c if echoes($c);
    return ( undef, 'no echo' );
}

# $c (from client_of) sends 'hello' and gets it back.
sub echoes {
    my ($c) = @_;
    my $got = $received{$c};
    @$got = ();
    $c->send_utf8('hello');
    return run_until( 'the echo', sub { @$got } ) && $got->[0] eq 'hello';
}

subtest 'reload_ssl: new connections get the new pair, open ones keep theirs' => sub {
    my $server = echo_server( ssl_cert_file => $cert, ssl_key_file => $key );
    ok( $server->listen, 'a TLS server listens' ) or diag $server->error;
    my ($before) = client_of( $server, '127.0.0.1', $ca );
    ok( $before, 'a client trusting the first CA connects' );

    ok( !defined $server->reload_ssl( cert_file => "$dir/missing.pem", key_file => $key2 ), 'a missing file is refused' );
    like( $server->error->message, qr/reload_ssl: .*missing\.pem/, '... naming it' );
    is( $server->error->code, -17, '... WS_ERR_TLS' );
    ok( !defined $server->reload_ssl( cert_file => $cert2, key_file => $key ), 'a key of another certificate is refused' );
    like( $server->error->message, qr/does not belong/, '... saying so' );
    ok( !defined $server->reload_ssl( cert_file => $key2, key_file => $key2 ), 'a key as the certificate is refused' );
    like( $server->error->message, qr/no certificate/, '... saying so' );
    my ($still) = client_of( $server, '127.0.0.1', $ca );
    ok( $still, 'after refused reloads the first pair is still in use' );
    $still->disconnect if $still;

    is( $server->reload_ssl( cert_file => $cert2, key_file => $key2 ), $server, 'reload_ssl to the second pair' );
    my ( $old, $why ) = client_of( $server, '127.0.0.1', $ca );
    ok( !$old, 'a new client trusting only the first CA is refused' );
    is( ref $why && $why->code, -17, '... with WS_ERR_TLS' );
    my ($new) = client_of( $server, '127.0.0.1', $ca2 );
    ok( $new, 'a new client trusting the second CA connects' );
    ok( $before && echoes($before), 'the connection made before the reload still echoes' );
    $_->disconnect for grep { $_ } $before, $new;

    my $quiet = echo_server( ssl_cert_file => $cert, ssl_key_file => $key );
    ok( !defined $quiet->reload_ssl( cert_file => $cert2, key_file => $key2 ), 'a server not listening cannot reload' );
    is( $quiet->error->code, -15, '... WS_ERR_BAD_STATE' );
    my $plain = echo_server();
    $plain->listen or die $plain->error;
    ok( !defined $plain->reload_ssl( cert_file => $cert2, key_file => $key2 ), 'nor can a plain server' );
    like( $plain->error->message, qr/does not speak TLS/, '... saying why' );
    eval { $plain->reload_ssl( cert => $cert2 ) };
    like( $@, qr/unknown argument 'cert'/, 'an unknown argument croaks' );
    $_->shutdown for $server, $plain;
};

subtest 'ssl_sni: a certificate by server name, the default for the others' => sub {
    my $server = echo_server( ssl_cert_file => $cert, ssl_key_file => $key,
        ssl_sni => { localhost => { cert_file => $cert2, key_file => $key2 } } );
    ok( $server->listen, 'a server with a certificate for localhost listens' ) or diag $server->error;
    my ($named) = client_of( $server, 'localhost', $ca2 );
    ok( $named, 'wss://localhost gets the certificate for its name' );
    my ($wrong) = client_of( $server, 'localhost', $ca );
    ok( !$wrong, '... not the default' );
    my ($by_ip) = client_of( $server, '127.0.0.1', $ca );
    ok( $by_ip, 'wss://127.0.0.1 (no name sent) gets the default' );

    is( $server->reload_ssl( hostname => 'localhost', cert_file => $cert, key_file => $key ), $server,
        'reload_ssl for localhost' );
    my ($reloaded) = client_of( $server, 'localhost', $ca );
    ok( $reloaded, 'wss://localhost now gets the first pair' );
    ok( !defined $server->reload_ssl( hostname => '127.0.0.1', cert_file => $cert, key_file => $key ),
        'an IP address is no server name' );
    like( $server->error->message, qr/IP address/, '... saying so' );
    $_->disconnect for grep { $_ } $named, $by_ip, $reloaded;
    $server->shutdown;

    ok( !defined WebSocket::Server->new( ssl_sni => [ localhost => $cert2 ] ), 'ssl_sni must be a hash reference' );
    like( WebSocket::Server->error, qr/ssl_sni must be/, '... saying so' );
    my $bad = echo_server( ssl_cert_file => $cert, ssl_key_file => $key,
        ssl_sni => { 'other.example' => { cert_file => $cert2, key_file => $key2 } } );
    ok( !defined $bad->listen, 'a certificate not valid for its name fails listen' );
    like( $bad->error->message, qr/ssl_sni other\.example: .*not valid for the name/, '... naming the option' );
};

done_testing;

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/lib";
use Test::More;

alarm 30;    # a hang fails the test instead of stalling the suite
use IO::Socket::INET;
use WebSocket::Client;

# A port nobody listens on: bind one, note it, close it.
my $sock = IO::Socket::INET->new( Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0 ) or die $!;
my $port = $sock->sockport;
close $sock;
my $url = "ws://127.0.0.1:$port/";

my ( @errors, $disconnected );
my $c = WebSocket::Client->new(
    $url,
    timeout       => 3,
    on_error      => sub { push @errors, $_[1] },
    on_disconnect => sub { $disconnected++ },
);
my $rv = $c->connect;
ok( !defined $rv, 'connect to a refused port returns undef' );
my $e = $c->error;
isa_ok( $e, 'WebSocket::Exception', 'error' );
like( "$e", qr/refused/i, 'it stringifies to a message mentioning the refusal' );
is( $e->code, -5, 'its code is WS_ERR_CONNECT' );
is( scalar @errors, 1, 'on_error ran once' );
isa_ok( $errors[0], 'WebSocket::Exception', 'on_error gets an exception' );
ok( !$disconnected, 'on_disconnect does not run for a connection that never opened' );
ok( !$c->connected, 'not connected' );
my @list = WebSocket::Client->new( $url, timeout => 3 )->connect;
is( scalar @list, 0, 'in list context the failure is an empty list' );

my $f = WebSocket::Client->new( $url, timeout => 3, fatal => 1 );
ok( !eval { $f->connect; 1 }, 'with fatal => 1 connect dies' );
isa_ok( $@, 'WebSocket::Exception', 'with the exception' );
like( "$@", qr/refused/i, '... about the refusal' );
is( $f->error, $@, '... which is also the error' );

for my $bad ( 'http://127.0.0.1/', 'not a url', 'ws://', '' ) {
    my $b = WebSocket::Client->new( $bad, timeout => 3 );
    ok( !defined $b->connect, "bad URI '$bad': connect returns undef" );
    isa_ok( $b->error, 'WebSocket::Exception', '... error' );
    like( $b->error->message, qr/url|uri/i, '... saying the URL is bad' );
}
my $b = WebSocket::Client->new( 'http://127.0.0.1/', fatal => 1 );
ok( !eval { $b->connect; 1 }, 'bad URI with fatal => 1 dies' );
like( "$@", qr/url/i, '... about the URL' );

my $x = WebSocket::Client->new( $url, extensions => 'x-nope' );
ok( !defined $x->connect, 'an unknown extension fails' );
like( $x->error, qr/x-nope/, '... naming it' );
my $o = WebSocket::Client->new( $url, headers => [ 'Bad Name' => 'v' ] );
ok( !defined $o->connect, 'a malformed header fails' );
like( $o->error, qr/header/, '... saying which' );

my $n = WebSocket::Client->new($url);
ok( !defined $n->send_utf8('x'), 'send before connect returns undef' );
like( $n->error, qr/not connected/, '... not connected' );
ok( !defined $n->disconnect, 'disconnect before connect returns undef' );

ok( !eval { $n->on_utf8('not code'); 1 }, 'a callback must be a code reference' );

done_testing;

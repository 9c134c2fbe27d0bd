use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;

use_ok('WebSocket');
use_ok('WebSocket::Client');
use_ok('WebSocket::Exception');
use_ok('WebSocket::Server');
use_ok('WebSocket::Connection');
use_ok('WebSocket::Object');
use_ok('WebSocket::Endpoint');
use_ok('WebSocket::Message');
use_ok('WebSocket::Log');
use_ok($_) for qw(
  WebSocket::Base WebSocket::Array WebSocket::Version WebSocket::HeaderValue WebSocket::Extension
  WebSocket::Headers WebSocket::Common WebSocket::Request WebSocket::Response WebSocket::Handshake
  WebSocket::Handshake::Client WebSocket::Handshake::Server
);

my %codes = (
    WS_OK => 1000, WS_GONE => 1001, WS_PROTOCOL_ERROR => 1002, WS_NOT_ACCEPTABLE => 1003,
    WS_NO_STATUS => 1005, WS_CLOSED_ABNORMALLY => 1006, WS_BAD_MESSAGE => 1007,
    WS_FORBIDDEN => 1008, WS_MESSAGE_TOO_LARGE => 1009, WS_EXTENSIONS_NOT_AVAILABLE => 1010,
    WS_INTERNAL_SERVER_ERROR => 1011, WS_TLS_HANDSHAKE_FAIL => 1015,
);

for my $tag (qw( ws all )) {
    my $pkg = "Importer::$tag";
    eval "package $pkg; use WebSocket qw( :$tag ); 1" or die $@;
    for my $name ( sort keys %codes ) {
        no strict 'refs';
        ok( defined &{"${pkg}::$name"}, ":$tag exports $name" );
        is( &{"${pkg}::$name"}(), $codes{$name}, "$name is $codes{$name}" );
    }
}
{
    package Importer::none;
    use WebSocket;
}
ok( !defined &Importer::none::WS_OK, 'nothing is exported by default' );
eval "package Importer::one; use WebSocket qw( WS_GONE ); 1" or die $@;
is( Importer::one::WS_GONE(), 1001, 'a constant is exported by name' );
ok( !eval "package Importer::bad; use WebSocket qw( WS_NOPE ); 1", 'an unknown name is refused' );

is( WebSocket->compression_threshold, 10240, 'compression_threshold defaults to 10240' );
is( WebSocket->compression_threshold(4096), 4096, 'compression_threshold sets' );
is( WebSocket->compression_threshold, 4096, '... and keeps the value' );
ok( !eval { WebSocket->compression_threshold('lots'); 1 }, 'a non-number is refused' );
is( WebSocket->compression_threshold, 4096, '... and the value stays' );
WebSocket->compression_threshold(10240);

like( WebSocket->library_version, qr/^\d+\.\d+\.\d+$/, 'library_version' );

my $e = WebSocket::Exception->new( code => -5, message => 'refused' );
is( $e->code,    -5,        'exception code' );
is( $e->message, 'refused', 'exception message' );
is( "$e",        'refused', 'an exception stringifies to its message' );
ok( $e, 'an exception is true' );

my $c = WebSocket->client( 'ws://127.0.0.1:1/', timeout => 3 );
isa_ok( $c, 'WebSocket::Client', 'WebSocket->client' );
is( $c->uri, 'ws://127.0.0.1:1/', 'the uri is kept' );
isa_ok( WebSocket->server( port => 0 ), 'WebSocket::Server', 'WebSocket->server' );
my $ws = WebSocket->new;
isa_ok( $ws, 'WebSocket', 'WebSocket->new' );
isa_ok( $ws->client('ws://127.0.0.1:1/'), 'WebSocket::Client', '$ws->client' );
isa_ok( $ws->server( port => 0 ), 'WebSocket::Server', '$ws->server' );
ok( !eval { WebSocket::Client->new( 'ws://x/', bogus => 1 ); 1 }, 'an unknown option is refused' );
like( $@, qr/unknown option 'bogus'/, '... saying which' );

done_testing;

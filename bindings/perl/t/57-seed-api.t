# The seed distribution's idioms on the binding's main classes: constructors
# from a hash reference, debug, error as a class method, on() everywhere,
# send with the type first, connection_class, legacy, stop, accessors, and
# the exception's file, line, as_string and throw.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/lib";
use Test::More;
use HTTP::Headers;
use TestPeer qw( raw_upgrade );

alarm 60;    # a hang fails the test instead of stalling the suite
use WebSocket qw( :ws );
use WebSocket::Client;
use WebSocket::Server;
use WebSocket::Exception;
use WebSocket::Frame;
use WebSocket::Version;

# Runs the event loop until $cond is true or 5 s have passed.
sub run_until {
    my ( $what, $cond ) = @_;
    my $deadline = time + 5;
    WebSocket::FFI::wait_and_dispatch(0.05) until $cond->() || time > $deadline;
    ok( $cond->(), $what );
}

{
    package My::Connection;
    use parent -norequire, 'WebSocket::Connection';
    sub greeting { 'hello from ' . ref shift }
}

# An echo server from a hash reference, its connections in My::Connection.
my @seen;
my $server = WebSocket::Server->new(
    {
        host             => '127.0.0.1',
        port             => 0,
        debug            => 0,
        connection_class => 'My::Connection',
        on_connect       => sub {
            my ( $srv, $conn ) = @_;
            push @seen, ref $conn;
            $conn->on(
                utf8   => sub { $_[0]->send( text   => $_[1] ) },
                binary => sub { $_[0]->send( binary => $_[1] ) },
            );
        },
    }
);
isa_ok( $server, 'WebSocket::Server', 'new( { ... } )' );
ok( $server->listen, 'it listens' ) or diag $server->error;
my $url = 'ws://127.0.0.1:' . $server->port . '/';

subtest 'constructors take a hash reference, the client also ($uri, { ... })' => sub {
    my $c = WebSocket::Client->new( $url, { timeout => 5, debug => 0 } );
    is( $c->uri,     $url, 'the uri comes first' );
    is( $c->timeout, 5,    'the options from the hash reference' );
    my $d = WebSocket::Client->new( { uri => $url, origin => 'http://example.com' } );
    is( $d->uri,    $url,                 'new( { uri => ... } )' );
    is( $d->origin, 'http://example.com', '... and its options' );
    is( WebSocket::Client->new( $url, cookie => 'a=1' )->cookie, 'a=1', 'new( $uri, %options ) still works' );
    is( $c->debug, 0, 'debug is accepted and read back' );
    is( $c->timeout(3), $c, 'an accessor sets and returns the client' );
    is( $c->timeout, 3, '... the new value' );
    is( $c->compression_threshold, WebSocket->compression_threshold, 'compression_threshold defaults to the process-wide one' );
    is( $server->extensions, undef, 'server accessors: extensions' );
    is( $server->tick_period(2)->tick_period, 2, '... tick_period' );
    is( $server->silence_max, undef, '... silence_max' );
};

subtest 'error as a class method' => sub {
    ok( !WebSocket::Server->new( port => 'nope' ), 'a bad option value: new returns undef' );
    like( WebSocket::Server->error, qr/not a port number/, 'WebSocket::Server->error tells why' );
    isa_ok( WebSocket::Server->error, 'WebSocket::Exception' );
    ok( !WebSocket::Server->new( { connection_class => 'No::Such::Class' } ), 'an unknown connection_class is refused' );
    like( WebSocket::Server->error->message, qr/connection_class/, '... saying so' );
    is( WebSocket::Client->error, undef, 'each class keeps its own' );
    is( WebSocket::Frame->error,  undef, 'WebSocket::Frame->error works as a class method too' );
};

subtest 'send with the type first; on() on the client' => sub {
    my ( @text, @bytes, @pongs );
    my $c = WebSocket::Client->new( $url, { timeout => 5 } );
    is( $c->on( utf8 => sub { push @text, $_[1] }, binary => sub { push @bytes, $_[1] }, pong => sub { push @pongs, $_[1] } ),
        $c, 'on() returns the client' );
    ok( $c->connect, 'connected' ) or diag $c->error;
    ok( $c->send( binary => "\x00\xffbinary" ), 'send( binary => $bytes )' );
    ok( $c->send( text => 'typed text' ),       'send( text => $text )' );
    ok( $c->send('plain text'),                 'send( $text )' );
    ok( $c->send( 'binary', compress => 1 ),    'send( $text, %options ): the text "binary"' );
    ok( $c->send( ping => 'p' ),                'send( ping => $payload )' );
    run_until( 'the echoes and the pong arrived', sub { @text == 3 && @bytes == 1 && @pongs == 1 } );
    is_deeply( \@bytes, ["\x00\xffbinary"], 'the binary message came back as binary' );
    is_deeply( \@text, [ 'typed text', 'plain text', 'binary' ], 'the texts came back in order' );
    ok( !$c->send( bogus => 'x' ), 'an unknown type is refused' );
    like( $c->error, qr/unknown message type 'bogus'/, '... saying so' );
    eval { $c->on( nothing => sub { } ) };
    like( $@, qr/unknown event 'nothing'/, 'on() dies on an unknown event' );
    ok( !$c->disconnected, 'not disconnected while open' );
    $c->disconnect;
    ok( $c->disconnected, 'disconnected after disconnect' );
    ok( !$c->disconnecting, '... and no longer disconnecting' );
};

subtest 'connection_class, connections as an array object, legacy' => sub {
    my $c = WebSocket::Client->new( $url, timeout => 5 );
    ok( $c->connect, 'connected' );
    run_until( 'the server has the connection', sub { $server->connections == 1 } );
    is( $seen[-1], 'My::Connection', 'on_connect got a My::Connection' );
    my $all = $server->connections;
    isa_ok( $all, 'WebSocket::Array', 'connections in scalar context' );
    is( $all->length, 1, '... its length' );
    my ($conn) = $server->connections;
    is( $conn->greeting, 'hello from My::Connection', 'the subclass methods work' );
    is( $conn->compression_threshold, $server->compression_threshold, 'a connection has the server threshold' );
    ok( !$conn->disconnected && !$conn->disconnecting, 'an open connection is neither disconnected nor disconnecting' );
    $server->{legacy} = 1;
    is( scalar $server->connections, 1, 'legacy: the count in scalar context' );
    $server->{legacy} = 0;
    $c->disconnect;
    run_until( 'the server connection closed', sub { $conn->disconnected } );
};

subtest 'on() on the server; stop shuts it down' => sub {
    my ( $ticks, $shut ) = ( 0, 0 );
    my $s = WebSocket::Server->new( host => '127.0.0.1', port => 0, tick_period => 0.05 );
    is( $s->on( tick => sub { $_[0]->stop if ++$ticks == 2 }, shutdown => sub { $shut++ } ), $s, 'on() returns the server' );
    $s->start;
    is( $ticks, 2, 'start returned after stop' );
    is( $shut,  1, 'stop shut the server down' );
};

subtest 'exceptions: file, line, as_string, throw, a hash reference' => sub {
    my $e = WebSocket::Exception->new( { code => -2, message => 'bad value' } );
    is( $e->code,    -2,          'new( { ... } ): code' );
    is( $e->message, 'bad value', '... message' );
    is( $e->file,    __FILE__,    'file: where it was made' );
    is( $e->line,    __LINE__ - 4, 'line: where it was made' );
    is( $e->as_string, "bad value at " . __FILE__ . " line " . $e->line . '.', 'as_string' );
    is( "$e", 'bad value', 'it still stringifies to the message' );
    is( WebSocket::Exception->new('just a message')->message, 'just a message', 'new( $message )' );
    eval { WebSocket::Exception->throw( code => 7, message => 'thrown' ) };
    isa_ok( $@, 'WebSocket::Exception', 'throw as a class method dies with an exception' );
    is( $@->code, 7, '... made from its arguments' );
    is( $@->line, __LINE__ - 3, '... remembering the line of the throw' );
    eval { $e->throw };
    is( $@, $e, 'throw as an instance method dies with the exception itself' );
    my $c = WebSocket::Client->new('ws://127.0.0.1:1/');
    ok( !$c->connect, 'a failed connect' );
    is( $c->error->file, __FILE__, 'an error of the binding names the caller file' );
    is( $c->error->line, __LINE__ - 2, '... and line' );
};

subtest 'watch_readable and watch_writable run in the server loop' => sub {
    pipe( my $r, my $w ) or die "pipe: $!";
    my ( @read, $writable );
    my $s = WebSocket::Server->new(
        host           => '127.0.0.1',
        port           => 0,
        tick_period    => 0.05,
        watch_writable => [ $w => sub { $writable++; $_[0]->unwatch_writable( $_[1] ); syswrite $_[1], "ping\n" } ],
    );
    my $cb = sub {
        my ( $srv, $fh ) = @_;
        sysread $fh, my $line, 100;
        push @read, $line;
        $srv->stop;
    };
    is( $s->watch_readable( $r => $cb ), $s, 'watch_readable returns the server' );
    is( $s->watched_readable($r), $cb, 'watched_readable($fh) gives its callback' );
    is_deeply( [ $s->watched_readable ], [ $r, $cb ], 'watched_readable gives the pairs' );
    is( $s->watched_writable($r), undef, 'a handle not watched for writing' );
    my $t0 = time;
    $s->start;
    cmp_ok( time - $t0, '<', 5, 'start returned (the readable callback stopped it)' );
    is( $writable, 1, 'the writable callback ran once, then unwatched its handle' );
    is_deeply( \@read, ["ping\n"], 'the readable callback read what it wrote' );
    is( $s->unwatch_readable($r), $s, 'unwatch_readable returns the server' );
    is( $s->watched_readable($r), undef, '... and the handle is no longer watched' );
    eval { $s->watch_readable( 'not a handle' => $cb ) };
    like( $@, qr/not an open file handle/, 'watching something that is no handle dies' );
};

subtest 'http_error in every form; request_uri and origin are URI objects; metadata' => sub {
    my %seen;
    my %answer = (
        '/code'       => [426],
        '/message'    => [ 426, 'Upgrade with version 13' ],
        '/positional' => [ 426, 'Upgrade Required', 'Oh no!', [ 'X-Why' => 'old' ] ],
        '/http-headers' => [ 426, 'Upgrade Required', 'Oh no!', HTTP::Headers->new( Content_Language => 'en' ) ],
        '/pairs'      => [ 400, message => 'You missed something', headers => { 'X-A' => 1 } ],
        '/hashref'    => [ 400, { status => 'Bad Request' } ],
        '/named'      => [ code => 401, data => { error => 'no token' } ],
        '/one-hash'   => [ { code => 404, message => 'nothing here' } ],
        '/bad-option' => [ code => 400, bogus => 1 ],
        '/bad-header' => [ 400, 'x', 'y', [ Connection => 'close' ] ],
    );
    my $s = WebSocket::Server->new(
        host       => '127.0.0.1',
        port       => 0,
        on_connect => sub {
            my ( $srv, $conn ) = @_;
            $seen{uri}    = $conn->request_uri;
            $seen{origin} = $conn->origin;
            is( $conn->metadata, undef, 'metadata is undef until set' );
            is( $conn->metadata( { user => 'ann' } ), $conn, 'metadata( { ... } ) returns the connection' );
            $seen{meta} = $conn->metadata->{user};
            my $args = $answer{ $conn->request_uri->path } or return;
            my $ok = $conn->http_error(@$args);
            $seen{error} = $ok ? undef : $conn->error->message;
            return $ok ? undef : 0;
        },
    );
    $s->listen or die $s->error;
    my ($r) = raw_upgrade( $s, '/room?id=7&x=y', 'Origin: https://app.example/page?q=1' );
    like( $r, qr{^HTTP/1.1 101}, 'an accepted request' );
    isa_ok( $seen{uri}, 'URI', 'request_uri' );
    is( "$seen{uri}", 'ws://127.0.0.1/room?id=7&x=y', '... absolute, from the Host header' );
    is( $seen{uri}->query_param('id'), 7, '... with its query' );
    isa_ok( $seen{origin}, 'URI', 'origin' );
    is( $seen{origin}->host, 'app.example', '... its host' );
    is( $seen{meta}, 'ann', 'metadata kept what was set' );
    my %expect = (
        '/code'         => [ 426, qr/\r\n\r\n\z/ ],
        '/message'      => [ 426, qr/\r\n\r\nUpgrade with version 13\z/ ],
        '/positional'   => [ 426, qr/\r\nX-Why: old\r\n/, qr/\r\n\r\nOh no!\z/ ],
        '/http-headers' => [ 426, qr/\r\nContent-Language: en\r\n/, qr/\r\n\r\nOh no!\z/ ],
        '/pairs'        => [ 400, qr/\r\nX-A: 1\r\n/, qr/\r\n\r\nYou missed something\z/ ],
        '/hashref'      => [ 400, qr/\r\n\r\nBad Request\z/ ],
        '/named'        => [ 401, qr/\r\nContent-Type: application\/json\r\n/, qr/\r\n\r\n\{"error":"no token"\}\z/ ],
        '/one-hash'     => [ 404, qr/\r\n\r\nnothing here\z/ ],
    );
    for my $path ( sort keys %expect ) {
        my ( $status, @parts ) = @{ $expect{$path} };
        ($r) = raw_upgrade( $s, $path );
        like( $r, qr{^HTTP/1.1 $status }, "http_error( @{[ join ', ', map { ref ? ref : $_ } @{ $answer{$path} } ]} ): $status" );
        like( $r, $_, '... ' . ( /\\z/ ? 'its body' : 'its header' ) ) for @parts;
    }
    ($r) = raw_upgrade( $s, '/bad-option' );
    like( $r, qr{^HTTP/1.1 500}, 'an unknown option: http_error fails (the request gets 500)' );
    like( $seen{error}, qr/unknown option 'bogus'/, '... saying why' );
    ($r) = raw_upgrade( $s, '/bad-header' );
    like( $r, qr{^HTTP/1.1 500}, 'a header the library writes itself is refused (500)' );
    like( $seen{error}, qr/header Connection/, '... saying which' );
    my $c = WebSocket::Connection->can('status_message')->( undef, 403 );
    is( $c, 'Forbidden', 'status_message gives the reason phrase' );
    $s->shutdown;
};

subtest 'on_accept runs before on_connect and may refuse' => sub {
    my ( @order, $args );
    my $s = WebSocket::Server->new(
        host        => '127.0.0.1',
        port        => 0,
        subprotocol => [ 'chat', 'json' ],
        on_accept   => sub { $args = shift; push @order, 'accept'; return $args->{ip} eq '127.0.0.1' && $order[-2] ? 0 : 1 },
        on_connect  => sub { push @order, 'connect'; return },
    );
    $s->listen or die $s->error;
    my ($r) = raw_upgrade( $s, '/', 'Sec-WebSocket-Protocol: chat' );
    like( $r, qr{^HTTP/1.1 101}, 'accepted' );
    is_deeply( \@order, [qw( accept connect )], 'on_accept, then on_connect' );
    is( $args->{server}, $s, 'on_accept got the server' );
    is( $args->{ip}, '127.0.0.1', '... the client address' );
    like( $args->{port}, qr/\A[0-9]+\z/, '... and port' );
    is_deeply( $args->{subprotocol}, [ 'chat', 'json' ], "... the server's subprotocols" );
    ok( exists $args->{socket} && !defined $args->{socket}, '... and no socket' );
    ($r) = raw_upgrade( $s, '/' );
    like( $r, qr{^HTTP/1.1 403}, 'a defined false return refuses with 403' );
    is_deeply( \@order, [qw( accept connect accept )], '... without calling on_connect' );
    $s->shutdown;
};

subtest 'on_handshake and on_origin get the handshake; $conn->handshake' => sub {
    my %seen;
    my $s = WebSocket::Server->new(
        host       => '127.0.0.1',
        port       => 0,
        on_connect => sub {
            my ( $srv, $conn ) = @_;
            $conn->on(
                handshake => sub {
                    my ( $c, $hs ) = @_;
                    $seen{hs}     = $hs;
                    $seen{query}  = $hs->request->uri->query;
                    $seen{cookie} = $hs->request->headers->header('Cookie');
                    $seen{same}   = $c->handshake == $hs;
                    return 1;
                },
                origin => sub {
                    my ( $c, $origin, $hs ) = @_;
                    $seen{origin}    = $origin;
                    $seen{origin_hs} = $hs;
                    return $origin->host eq 'good.example';
                },
            );
        },
    );
    $s->listen or die $s->error;
    my ($r) = raw_upgrade( $s, '/chat?room=1', 'Cookie: session=abc', 'Origin: https://good.example' );
    like( $r, qr{^HTTP/1.1 101}, 'accepted' );
    isa_ok( $seen{hs}, 'WebSocket::Handshake::Server', 'on_handshake got a handshake' );
    is( $seen{query},  'room=1',      '... its request uri has the query' );
    is( $seen{cookie}, 'session=abc', '... and its headers' );
    ok( $seen{same}, '$conn->handshake is the same object' );
    is( $seen{origin_hs}, $seen{hs}, 'on_origin got it too' );
    isa_ok( $seen{origin}, 'URI', "on_origin's origin" );
    is( $seen{hs}->request->version + 0, 13, 'the request says version 13' );
    ($r) = raw_upgrade( $s, '/', 'Origin: https://bad.example' );
    like( $r, qr{^HTTP/1.1 403}, 'on_origin returning false refuses' );
    $s->shutdown;
};

subtest 'versions are WebSocket::Version objects' => sub {
    isa_ok( $server->version, 'WebSocket::Version', 'the server version' );
    is( $server->version + 0, 13, '... 13' );
    is( $server->version->draft, 'draft-ietf-hybi-17', '... draft-ietf-hybi-17' );
    my $versions = $server->versions;
    isa_ok( $versions, 'WebSocket::Array', 'versions' );
    is( $versions->length, 1, '... one of them' );
    ok( WebSocket::Server->new( version => 'draft-ietf-hybi-17' ), 'the draft name is accepted' );
    ok( WebSocket::Server->new( version => WebSocket::Version->new(13) ), 'so is a version object' );
    ok( !WebSocket::Server->new( version => 8 ), 'version 8 is refused' );
    like( WebSocket::Server->error, qr/version 8 is not supported/, '... saying why' );
    my $c = WebSocket::Client->new( $url, version => 13 );
    is( $c->version->draft, 'draft-ietf-hybi-17', 'the client version' );
    ok( !WebSocket::Client->new( $url, version => 'draft-ietf-hybi-10' )->connect, 'a client refuses other versions' );
    is( WebSocket::Frame->new( version => 13 )->version + 0, 13, 'a frame takes a version too' );
    eval { WebSocket::Frame->new( version => 7 ) };
    like( $@, qr/version 7 is not supported/, '... and croaks on another' );
};

$server->shutdown;
done_testing;

# The SYNOPSIS of each of the seed distribution's main modules (WebSocket,
# ::Client, ::Server with its TLS listener, ::Connection, ::Frame,
# ::Exception), run against each other over loopback. They are adapted only
# where README's "Porting from the CPAN WebSocket distribution" says: a free
# port instead of 8080, the prompt loop replaced by a few messages, the
# connection's options set in on_connect, start ended by stop. (The helper
# classes' synopses run in t/56-seed-classes.t.)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/lib";
use Test::More;

alarm 60;    # a hang fails the test instead of stalling the suite
use File::Temp ();
use POSIX ();
use TestPeer qw( make_certs run_until );

subtest 'WebSocket' => sub {
    package Synopsis::WebSocket;
    use WebSocket qw( :ws ); # exports standard codes as constant
    Test::More::is( WS_OK, 1000, 'WS_OK' );
    Test::More::is( WS_TLS_HANDSHAKE_FAIL, 1015, 'WS_TLS_HANDSHAKE_FAIL' );
};

{
    package My::Connection;
    use parent -norequire, 'WebSocket::Connection';
}

# The server's SYNOPSIS, its output (print) captured in @printed.
my @printed;
my ( $ws, $j );
our ( @pings, @pongs );
sub Synopsis::Server::on_ping { push @pings, $_[1]; return 1 }
sub Synopsis::Server::on_pong { push @pongs, $_[1] }
subtest 'WebSocket::Server' => sub {
    package Synopsis::Server;
    use WebSocket::Server;
    use JSON;
    my $print = sub { push @printed, join '', @_ };
    my $origin = 'http://localhost';
    $j = JSON->new->relaxed->convert_blessed;
    open my $stderr, '>&', \*STDERR or die $!;
    my $log = File::Temp->new;
    open STDERR, '>', $log->filename or die $!;
    $ws = WebSocket::Server->new(
        debug => 3,
        connection_class => 'My::Connection',
        port => 0,                                # 8080 in the seed
        host => '127.0.0.1',
        tick_period => 0.2,                       # added: see on_tick below
        on_connect => sub
        {
            my( $serv, $conn ) = @_;
            # Set the code that will issue pong reply to ping queries from the client
            $conn->do_pong(sub
            {
                # WebSocket::Connection and a scalar of bytes received
                my( $c, $bytes ) = @_;
                # This is the default behaviour
                return( $c->pong( $bytes ) );
            });

            # See WebSocket::Connection for more information on the followings:
            $conn->on(
                handshake => sub
                {
                    my( $conn, $handshake ) = @_;
                    $print->( "Connection from ip '", $conn->ip, "' on port '", $conn->port, "'\n" );
                    $print->( "Query string: '", $handshake->request->uri->query, "'\n" );
                    $print->( "Origin is: '", $handshake->request->origin, "', ", ( $handshake->request->origin eq $origin ? '' : 'not ' ), "ok\n" );
                    # $conn->disconnect() unless( $handshake->request->origin eq $origin );
                },
                ping => \&on_ping,
                pong => \&on_pong,
                ready => sub
                {
                    my $conn = shift( @_ );
                    my $hash = { code => 200, type => 'user', message => "Hello" };
                    my $json = $j->encode( $hash );
                    $conn->send_utf8( $json );
                },
                utf8 => sub
                {
                    my( $conn, $msg ) = @_;
                    # $conn->send_utf8( $msg );
                    $print->( "Received message: '$msg'\n" );
                    $conn->send_utf8("echo: $msg");
                    $conn->server->stop if $msg eq 'bye';    # added: ends start
                },
                disconnect => sub
                {
                    my( $conn, $code, $reason ) = @_;
                    $print->( "Client diconnected from ip '", $conn->ip, "'\n" );
                },
            );
        },
    ) || die( WebSocket::Server->error );
    $ws->listen || die( $ws->error );    # added: the client below needs the port first

    # The client's SYNOPSIS, in a child process while the server runs here.
    my $port = $ws->port;
    my $pid  = fork // die "fork: $!";
    unless ($pid) {
        my $ok = eval { main::client_synopsis($port); 1 };
        print {$stderr} "client: $@" unless $ok;
        POSIX::_exit( $ok ? 0 : 1 );
    }
    # Added: the server stops if the client ends without saying bye.
    my $status;
    $ws->on_tick( sub { return unless waitpid( $pid, POSIX::WNOHANG() ) > 0; $status = $?; $_[0]->stop } );
    $ws->start || die( $ws->error );
    open STDERR, '>&', $stderr or die $!;
    unless ( defined $status ) { waitpid $pid, 0; $status = $? }
    Test::More::is( $status, 0, 'the client synopsis ran in a child process' );
    Test::More::like( $printed[0], qr/^Connection from ip '127\.0\.0\.1' on port '\d+'/, 'on handshake: the peer' );
    Test::More::is( $printed[1], "Query string: 'csrf=token'\n", '... the query string' );
    Test::More::is( $printed[2], "Origin is: 'http://localhost', ok\n", '... the origin' );
    Test::More::is_deeply( [ @printed[ 3, 4 ] ], [ "Received message: 'Hello server'\n", "Received message: 'bye'\n" ],
        'the messages the client sent' );
    open my $in, '<', $log->filename or die $!;
    my $logged = do { local $/; <$in> };
    Test::More::like( $logged, qr/WebSocket \[(?:info|debug)\]/, 'debug => 3 sent the library log to STDERR' );
    WebSocket->log_callback(undef);    # added: the rest of the test without it
};

# The client's SYNOPSIS (the prompt loop replaced by two messages).
sub client_synopsis {
    my ($port) = @_;
    package Synopsis::Client;
    use WebSocket::Client;
    my @got;
    my $uri = "ws://127.0.0.1:$port?csrf=token";    # localhost:8080 in the seed
    my $ws;
    my $on_message = sub { push @got, $_[1]; $ws->disconnect if $_[1] eq 'echo: bye' };
    $ws = WebSocket::Client->new( $uri,
    {
        do_pong       => sub{ $ws->pong },
        on_binary     => sub { },
        on_connect    => sub { },
        on_disconnect => sub { },
        on_error      => sub { die "error: $_[1]\n" },
        on_handshake  => sub { 1 },
        on_ping       => sub { 1 },
        on_pong       => sub { },
        on_recv       => sub { },
        on_send       => sub { },
        on_utf8       => $on_message,
        origin        => 'http://localhost',
        debug         => 0,                          # 3 in the seed: the parent checks it
        version       => 13,
    }) || die( WebSocket::Client->error );
    $ws->connect() || die( $ws->error );
    $ws->send_utf8( 'Hello server' ) || die( $ws->error );
    $ws->send_utf8( 'bye' ) || die( $ws->error );
    $ws->start;                                      # until disconnected
    die "unexpected messages: @got\n" unless "@got" eq '{"code":200,"message":"Hello","type":"user"} echo: Hello server echo: bye'
      || "@got" =~ /\A\{.*"message":"Hello".*\} echo: Hello server echo: bye\z/;
}

subtest 'WebSocket::Server with an IO::Socket::SSL listener' => sub {
    plan skip_all => 'IO::Socket::SSL is not installed' unless eval { require IO::Socket::SSL; 1 };
    my $dir = File::Temp->newdir;
    my ( $ca, $cert, $key ) = make_certs("$dir");
    my $ssl_server = IO::Socket::SSL->new(
        Listen             => 5,
        LocalPort          => 0,                     # 8080 in the seed
        LocalAddr          => '127.0.0.1',
        Proto              => 'tcp',
        SSL_startHandshake => 0,
        SSL_cert_file      => $cert,
        SSL_key_file       => $key,
    ) or die "failed to listen: $!";
    my $server = WebSocket::Server->new( listen => $ssl_server ) || die( WebSocket::Server->error );
    ok( $server->listen, 'it listens' ) or diag $server->error;
    ok( $server->is_ssl, 'over TLS' );
    my $client = WebSocket::Client->new( 'wss://localhost:' . $ssl_server->sockport . '/', ssl_ca_file => $ca );
    ok( $client->connect, 'a wss:// client connects' ) or diag $client->error;
    $client->disconnect;
    $server->shutdown;
};

subtest 'WebSocket::Connection (its options set in on_connect)' => sub {
    package Synopsis::Connection;
    use WebSocket qw( :ws );
    use WebSocket::Connection;
    my %called;
    my $server = WebSocket::Server->new(
        host       => '127.0.0.1',
        port       => 0,
        on_connect => sub {
            my ( $websocket_server_object, $conn ) = @_;
            $conn->do_pong( sub { $called{pong}++; $_[0]->pong( $_[1] ) } );
            $conn->max_recv_size(65536);
            $conn->max_send_size(65536);
            $conn->on(
                binary     => sub { $called{binary}++ },
                disconnect => sub { $called{close} = $_[1] },
                handshake  => sub { $called{handshake}++; 1 },
                origin     => sub { $called{origin}++; 1 },
                ping       => sub { $called{ping}++; 1 },
                pong       => sub { $called{pong_in}++ },
                ready      => sub { $_[0]->disconnect( WS_INTERNAL_SERVER_ERROR, 'Something bad happened' ) },
                utf8       => sub { $called{utf8}++ },
            );
        },
    ) || die( WebSocket::Server->error );
    $server->listen or die $server->error;
    my @closed;
    my $client = WebSocket::Client->new( 'ws://127.0.0.1:' . $server->port . '/', on_disconnect => sub { push @closed, [ @_[ 1, 2 ] ] } );
    Test::More::ok( $client->connect, 'a client connects' );
    TestPeer::run_until( 'the server closed it', sub { @closed } );
    Test::More::is_deeply( $closed[0], [ WS_INTERNAL_SERVER_ERROR, 'Something bad happened' ], 'disconnect( WS_INTERNAL_SERVER_ERROR, ... )' );
    Test::More::ok( $called{handshake} && $called{origin}, 'on_handshake and on_origin ran' );
    $server->shutdown;
};

subtest 'WebSocket::Frame' => sub {
    package Synopsis::Frame;
    use WebSocket::Frame;
    # Create frame
    my $frame = WebSocket::Frame->new( '123' );
    my $some_data = $frame->to_bytes . WebSocket::Frame->new( '456' )->to_bytes;    # added: kept for parsing

    # Parse frames
    my $f = WebSocket::Frame->new;                  # "my $frame" again in the seed, then "$f"
    $f->append( $some_data );
    Test::More::is( $f->next, '123', 'next: the first message' ); # get next message
    Test::More::is( $f->next, '456', 'next: another one' );       # get another next message
    Test::More::ok( !defined $f->next, 'then nothing' );
};

subtest 'WebSocket::Exception' => sub {
    package Synopsis::Exception;
    use WebSocket::Exception;
    my $ex = WebSocket::Exception->new({             # WebSocket::Connection->new in the seed (a slip)
        code => 1011,
        message => 'Invalid property provided',
    });
    Test::More::is( $ex->code, 1011, 'code' );
    Test::More::like( $ex->as_string, qr/^Invalid property provided at .* line \d+\.$/, 'as_string says where' );
};

done_testing;

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;

alarm 60;    # a hang fails the test instead of stalling the suite
use TestPeer qw( run_until );
use WebSocket qw( :ws :log );
use WebSocket::Client;
use WebSocket::FFI;
use WebSocket::Server;

# Statistics ($server->stats, $conn->stats, $client->stats, ids) and the
# library's log delivered to a Perl sub, between our server and our client.

my @lines;        # [ $level, $conn_id, $text ] of every line logged
my $outside = 0;  # lines delivered outside a dispatch
sub record { $outside++ unless WebSocket::FFI::in_callback(); push @lines, [@_] }

sub lines_about {
    my ( $id, $re ) = @_;
    return grep { $_->[1] == $id && $_->[2] =~ $re } @lines;
}

# A raw HTTP request to the server; returns its status line.
sub raw_request {
    my ( $server, $request ) = @_;
    my $sock = IO::Socket::INET->new( PeerAddr => '127.0.0.1', PeerPort => $server->port, Timeout => 5 )
      or die "connect: $!";
    print {$sock} $request;
    $sock->blocking(0);
    my $buf = '';
    run_until( 'the response', sub { sysread( $sock, $buf, 4096, length $buf ); $buf =~ /\r\n/ } );
    return ( split /\r\n/, $buf )[0];
}

subtest 'log levels and arguments' => sub {
    is( WebSocket->log_callback, undef, 'no log sub by default' );
    my $err = eval { WebSocket->log_callback( \&record, 'loud' ); 1 } ? undef : $@;
    isa_ok( $err, 'WebSocket::Exception', 'an unknown level' );
    like( "$err", qr/unknown level 'loud'/, '... says so' );
    ok( !eval { WebSocket->log_callback( 'record', 'info' ); 1 }, 'a name is not a code reference' );
    is( WebSocket->log_callback, undef, 'still none' );
    is( WebSocket::Log::level_number($_), 2, "level '$_'" ) for 'warn', 'WARN', 'warning', WS_LOG_WARN;
    my $level = WebSocket::Log::level(WS_LOG_DEBUG);
    ok( $level == WS_LOG_DEBUG && "$level" eq 'debug', 'a level is its number and reads as its name' );
};

my ( $server, @conns );
my %server_log;
$server = WebSocket::Server->new(
    host            => '127.0.0.1',
    port            => 0,
    max_connections => 1,
    max_handshakes  => 4,
    on_connect      => sub {
        my ( $srv, $conn ) = @_;
        return 0 if $conn->request_uri->path eq '/no';
        push @conns, $conn;
        $conn->on(
            utf8   => sub { $_[0]->send_utf8( $_[1] ) },
            binary => sub { $_[0]->send_binary( $_[1] ) },
        );
        return 1;
    },
) or die WebSocket::Server->error;

is( $server->stats, undef, 'no stats before listening' );
like( $server->error, qr/never listened/, '... and the error says why' );

is( WebSocket->log_callback( \&record, WS_LOG_INFO ), 'WebSocket', 'log_callback returns the class' );
is( WebSocket->log_callback, \&record, 'and the sub is set' );
$server->listen or die $server->error;

my ( @text, @binary );
my $client = WebSocket::Client->new(
    'ws://127.0.0.1:' . $server->port . '/',
    on_utf8   => sub { push @text,   $_[1] },
    on_binary => sub { push @binary, $_[1] },
);
is( $client->id, undef, 'a client has no id before connect' );

subtest 'statistics count an exchange exactly' => sub {
    ok( $client->connect, 'connects' ) or diag $client->error;
    $client->send_utf8('abc') for 1 .. 3;    # 3 messages, 9 bytes
    $client->send_binary( "\0" x 100 );      # 1 message, 100 bytes
    run_until( 'the echoes', sub { @text == 3 && @binary == 1 } );
    my $conn = $conns[0];
    ok( $client->id > 0 && $conn->id > 0 && $client->id != $conn->id, 'each end has its own id' );
    my %exchange = ( messages_in => 4, bytes_in => 109, messages_out => 4, bytes_out => 109 );
    for ( [ client => $client ], [ 'server connection' => $conn ] ) {
        my ( $name, $end ) = @$_;
        my $s = $end->stats;
        is_deeply( { map { $_ => $s->{$_} } keys %exchange }, \%exchange, "$name: 4 messages, 109 bytes each way" );
        is( $s->{id}, $end->id, "$name: the stats carry its id" );
        ok( $s->{send_queue_high_water} >= 100, "$name: the send queue held the 100 bytes ($s->{send_queue_high_water})" );
    }
    my $s = $server->stats;
    is( $s->{connections_open},     1, 'server: 1 open' );
    is( $s->{connections_accepted}, 1, 'server: 1 accepted' );
    is_deeply( [ @$s{qw( messages_in bytes_in messages_out bytes_out )} ], [ 4, 109, 4, 109 ], 'server: the traffic' );
    is( scalar( grep { /^refused_/ } keys %$s ), 5, 'five refusal counters' );
    is( $s->{$_}, 0, "$_ is 0" ) for grep { /^refused_/ } sort keys %$s;
};

my ( $cid, $sid ) = ( $client->id, $conns[0]->id );

subtest 'the log: open and close lines with the connection ids, only inside dispatch' => sub {
    ok( $client->disconnect( WS_OK, 'done' ), 'disconnects' );
    run_until( 'both ends closed', sub { !$client->connected && $server->stats->{connections_open} == 0 } );
    run_until( 'the close lines', sub { lines_about( $cid, qr/^closed/ ) && lines_about( $sid, qr/^closed/ ) } );
    ok( lines_about( 0, qr/^listening on 127\.0\.0\.1:/ ), 'the listening line, about no connection' );
    ok( lines_about( $cid, qr/^open: to 127\.0\.0\.1:/ ),   'the client\'s open line has its id' );
    ok( lines_about( $sid, qr/^open: from 127\.0\.0\.1:/ ), 'the server connection\'s open line has its id' );
    ok( lines_about( $cid, qr/^closed with 1000 "": we closed it/ ), 'the client\'s close line' );
    ok( lines_about( $sid, qr/^closed with 1000 "done": the peer closed it/ ), 'the server connection\'s close line' );
    is( scalar( grep { $_->[0] > WS_LOG_INFO } @lines ), 0, 'no debug line at info' );
    is( scalar( grep { $_->[0] == WS_LOG_INFO && "$_->[0]" eq 'info' } @lines ), scalar @lines, 'every line at info, named so' );
    is( $outside, 0, 'every line came inside a dispatch' );
    my $s = $conns[0]->stats;
    is_deeply( [ @$s{qw( id messages_in bytes_out )} ], [ $sid, 4, 109 ], 'a closed connection keeps its stats' );
    is( $conns[0]->id, $sid, '... and its id' );
    is( $client->stats->{messages_out}, 4, 'so does the client' );
};

subtest 'refusals are counted by reason, and logged' => sub {
    # Idle peers fill the handshake places (max_handshakes 4): the oldest are
    # dropped for newer ones, and none takes the only open place.
    my @idle = map { IO::Socket::INET->new( PeerAddr => '127.0.0.1', PeerPort => $server->port ) } 1 .. 6;
    my $first = WebSocket::Client->new( 'ws://127.0.0.1:' . $server->port . '/' );
    ok( $first->connect, 'a client takes the only place' ) or diag $first->error;
    my $full = WebSocket::Client->new( 'ws://127.0.0.1:' . $server->port . '/' );
    ok( !$full->connect, 'a second client is refused (max_connections 1)' );
    like( $full->error, qr/503/, '... with 503' );
    $first->disconnect;
    run_until( 'the first closed', sub { !$first->connected && $server->stats->{connections_open} == 0 } );
    like( raw_request( $server, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n" ),
        qr{^HTTP/1.1 400}, 'a request without a key gets 400' );
    my $s = $server->stats;
    is( $s->{refused_bad_handshake}, 1, 'refused_bad_handshake' );
    is( $s->{refused_full},          1, 'refused_full' );
    is( $s->{refused_rejected},      0, 'nothing rejected yet' );
    is( $s->{connections_accepted},  2, 'two accepted in all' );
    ok( run_until( 'the dropped handshakes', sub { $server->stats->{refused_timeout} == 3 } ),
        'the 3 oldest idle peers were dropped for newer connections (refused_timeout)' );
    run_until( 'the refusal lines', sub { lines_about( 0, qr/^refused .* with 400/ ) } );
    ok( lines_about( 0, qr/^refused 127\.0\.0\.1:\d+ with 400/ ), 'the bad request is logged' );
    ok( lines_about( 0, qr/^refused 127\.0\.0\.1:\d+ with 503/ ), 'the refusal for want of room too' );
};

subtest 'levels filter; undef turns the log off' => sub {
    my $reconnect = sub {
        my $c = WebSocket::Client->new( 'ws://127.0.0.1:' . $server->port . '/' );
        $c->connect or die $c->error;
        $c->disconnect;
        run_until( 'closed', sub { !$c->connected && $server->stats->{connections_open} == 0 } );
        return $c->id;
    };
    @lines = ();
    WebSocket->log_callback( \&record, 'debug' );
    my $id = $reconnect->();
    run_until( 'the debug lines', sub { lines_about( 0, qr/^accepted a TCP connection/ ) } );
    ok( lines_about( $id, qr/^connecting to/ ), 'a debug line about the client' );
    ok( ( grep { $_->[0] == WS_LOG_DEBUG && "$_->[0]" eq 'debug' } @lines ), 'lines at debug' );

    WebSocket->log_callback( \&record, 'warn' );
    @lines = ();
    $reconnect->();
    like( raw_request( $server, "GET / HTTP/1.1\r\n\r\n" ), qr{^HTTP/1.1 4}, 'another bad request' );
    WebSocket::FFI::dispatch(0);
    is_deeply( \@lines, [], 'nothing below warn' );

    WebSocket->log_callback( \&record, 'info' );
    my $c = WebSocket::Client->new( 'ws://127.0.0.1:' . $server->port . '/' );
    $c->connect or die $c->error;
    ok( lines_about( $c->id, qr/^open: to/ ), 'back at info: the open line came with the connect' );
    WebSocket->log_callback(undef);
    is( WebSocket->log_callback, undef, 'the log is off' );
    $c->disconnect;
    run_until( 'closed', sub { !$c->connected && $server->stats->{connections_open} == 0 } );
    WebSocket::FFI::dispatch(0);
    is( scalar( lines_about( $c->id, qr/^closed/ ) ), 0, 'no line once turned off' );
};

subtest 'rejected requests and the stats after shutdown' => sub {
    my $rejected = WebSocket::Client->new( 'ws://127.0.0.1:' . $server->port . '/no' );
    ok( !$rejected->connect, 'on_connect returning 0 refuses' );
    is( $server->stats->{refused_rejected}, 1, 'refused_rejected' );
    my $before = $server->stats;
    $server->shutdown;
    is_deeply( $server->stats, { %$before, connections_open => 0 }, 'the counts stay after shutdown' );
};

done_testing;

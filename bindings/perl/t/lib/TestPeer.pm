package TestPeer;

# Test helper: runs the project's build/echo_server as the peer of the tests
# and makes a CA + server certificate with openssl for the TLS tests.

use strict;
use warnings;
use Cwd ();
use File::Basename ();
use File::Spec;
use Exporter 'import';
use IO::Select;
use IO::Socket::INET;
use Digest::SHA ();
use MIME::Base64 ();
use POSIX ();
use Test::More ();
use Time::HiRes ();

our @EXPORT_OK = qw( repo_root start_echo start_echo_at make_certs run_until raw_ws_server raw_ws_client read_frame raw_upgrade );

# A test's alarm (its guard against hanging) dies, so that the servers it
# started are stopped (DESTROY, END) instead of outliving it.
$SIG{ALRM} = sub { die "timed out (the test's alarm rang)\n" };
my %RUNNING;    # pid => 1 of the echo_servers started and not yet stopped
END { kill 'TERM', keys %RUNNING if %RUNNING }

sub repo_root {
    my $t = File::Basename::dirname( Cwd::abs_path(__FILE__) );    # bindings/perl/t/lib
    return Cwd::abs_path( File::Spec->catdir( $t, ( File::Spec->updir ) x 4 ) );
}

# start_echo(@args): starts echo_server on a free port with @args; returns an
# object with ->port, ->url and ->scheme. The server is stopped when the
# object goes away.
sub start_echo { start_echo_at( 0, @_ ) }

# start_echo_at($port, @args): the same on a given port (dies if it is taken).
sub start_echo_at {
    my ( $port, @args ) = @_;
    my $server = File::Spec->catfile( repo_root(), 'build', 'echo_server' );
    die "$server is missing: run `make` in " . repo_root() . " first\n" unless -x $server;
    my $pid = open( my $fh, '-|', $server, '--host', '127.0.0.1', '--port', $port, @args )
      or die "cannot start $server: $!\n";
    my $line = IO::Select->new($fh)->can_read(10) ? readline($fh) : undef;
    $RUNNING{$pid} = 1;
    die "echo_server did not say where it listens\n" unless defined $line && $line =~ m{^listening on (wss?)://127\.0\.0\.1:(\d+)/};
    return bless { pid => $pid, fh => $fh, scheme => $1, port => $2 }, __PACKAGE__;
}

sub port   { $_[0]{port} }
sub scheme { $_[0]{scheme} }
sub url    { my ( $self, $host ) = @_; "$self->{scheme}://" . ( $host // '127.0.0.1' ) . ":$self->{port}/" }

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    local $?;    # closing the pipe sets it, and in global destruction it would become the test's exit status
    kill 'TERM', $pid;
    delete $RUNNING{$pid};
    close $self->{fh};    # waits for the server to exit
}

sub DESTROY { $_[0]->stop }

# run_until($what, $cond, $timeout = 5): runs the binding's event loop until
# $cond returns true; a failed test (and false) when $timeout seconds pass.
sub run_until {
    my ( $what, $cond, $timeout ) = @_;
    my $until = Time::HiRes::time() + ( $timeout // 5 );
    until ( $cond->() ) {
        if ( Time::HiRes::time() > $until ) {
            Test::More::fail("timed out waiting for $what");
            return 0;
        }
        WebSocket::FFI::wait_and_dispatch(0.05);
    }
    return 1;
}

# raw_ws_server($then): a hand-written WebSocket server in a child process for
# one client: it answers the opening handshake with 101, then runs
# $then->($socket). Returns (port, pid); the child exits when $then returns
# (or after 30 s); reap it with waitpid.
sub raw_ws_server {
    my ($then)   = @_;
    my $listener = IO::Socket::INET->new( Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0, ReuseAddr => 1 )
      or die "listen: $!";
    my $pid = fork // die "fork: $!";
    if ( !$pid ) {
        $SIG{ALRM} = 'DEFAULT';    # the alarm ends the child without running END blocks
        alarm 30;                  # never outlives a test that died before connecting
        my $peer = $listener->accept or POSIX::_exit(1);
        my $head = '';
        while ( $head !~ /\r\n\r\n/ ) { sysread( $peer, $head, 4096, length $head ) or POSIX::_exit(1) }
        my ($key) = $head =~ /Sec-WebSocket-Key: (\S+)/i;
        my $accept = MIME::Base64::encode_base64( Digest::SHA::sha1( $key . '258EAFA5-E914-47DA-95CA-C5AB0DC85B11' ), '' );
        print $peer "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          . "Sec-WebSocket-Accept: $accept\r\n\r\n";
        $then->($peer);
        POSIX::_exit(0);    # not exit: no END blocks nor destructors of the parent's objects here
    }
    my $port = $listener->sockport;
    close $listener;
    return ( $port, $pid );
}

# raw_ws_client($port, @headers): a hand-written WebSocket client in this
# process for a server of the binding: connects to 127.0.0.1:$port, sends an
# opening handshake (with @headers, "Name: value" lines, added) and reads the
# 101 response, running the binding's event loop until it comes. Returns
# the socket and the response; reading on is up to the test (see read_frame).
sub raw_ws_client {
    my ( $port, @headers ) = @_;
    my $sock = IO::Socket::INET->new( PeerAddr => '127.0.0.1', PeerPort => $port ) or die "connect: $!";
    print $sock "GET / HTTP/1.1\r\nHost: 127.0.0.1:$port\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
      . join( '', map {"$_\r\n"} @headers ) . "\r\n";
    my $ready = IO::Select->new($sock);
    run_until( 'the 101 response', sub { $ready->can_read(0) } ) or die "no response to the opening handshake\n";
    my $head = '';
    until ( $head =~ /\r\n\r\n/ ) {
        sysread( $sock, $head, 1, length $head ) or die "the server closed during the handshake\n";
    }
    die "not upgraded: $head" unless $head =~ m{\AHTTP/1\.1 101 };
    return ( $sock, $head );
}

# read_frame($sock): reads one unmasked frame (as a server sends) from the
# socket; returns its first byte (FIN and opcode) and its payload.
sub read_frame {
    my ($sock) = @_;
    my ( $b0, $len ) = unpack 'CC', _read_exactly( $sock, 2 );
    $len &= 0x7f;
    $len = unpack 'n', _read_exactly( $sock, 2 ) if $len == 126;
    $len = unpack 'Q>', _read_exactly( $sock, 8 ) if $len == 127;
    return ( $b0, _read_exactly( $sock, $len ) );
}

sub _read_exactly {
    my ( $sock, $n ) = @_;
    my $buf = '';
    while ( length $buf < $n ) {
        sysread( $sock, $buf, $n - length $buf, length $buf ) or die "the connection ended in a frame\n";
    }
    return $buf;
}

# make_certs($dir): writes ca.pem, server.pem and server.key (for localhost and
# 127.0.0.1, signed by the CA) into $dir, as tests/examples.sh does, and a
# client certificate client.pem + client.key signed by the same CA. With
# $prefix, every file name starts with it (a second, unrelated CA and its
# certificates in the same directory). Returns the CA, server certificate and
# key paths.
sub make_certs {
    my ( $dir, $prefix ) = @_;
    $prefix //= '';
    $dir .= "/$prefix";
    my @ec = qw( -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes );
    open my $san, '>', "${dir}san" or die "${dir}san: $!";
    print $san "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
    close $san;
    open my $usage, '>', "${dir}client-ext" or die "${dir}client-ext: $!";
    print $usage "extendedKeyUsage=clientAuth\n";    # an X.509 v3 certificate, as TLS wants
    close $usage;
    for my $cmd (
        [ qw( openssl req -x509 ), @ec, '-keyout', "${dir}ca.key", '-out', "${dir}ca.pem", '-days', '2', '-subj', "/CN=${prefix}test-ca",
          '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=keyCertSign' ],
        [ qw( openssl req ), @ec, '-keyout', "${dir}server.key", '-out', "${dir}server.csr", qw( -subj /CN=localhost ) ],
        [ qw( openssl x509 -req -in ), "${dir}server.csr", '-CA', "${dir}ca.pem", '-CAkey', "${dir}ca.key",
          qw( -CAcreateserial -days 1 -extfile ), "${dir}san", '-out', "${dir}server.pem" ],
        [ qw( openssl req ), @ec, '-keyout', "${dir}client.key", '-out', "${dir}client.csr", qw( -subj /CN=test-client ) ],
        [ qw( openssl x509 -req -in ), "${dir}client.csr", '-CA', "${dir}ca.pem", '-CAkey', "${dir}ca.key",
          qw( -CAcreateserial -days 1 -extfile ), "${dir}client-ext", '-out', "${dir}client.pem" ],
      )
    {
        my $pid = fork // die "fork: $!";
        if ( !$pid ) {
            open STDOUT, '>', '/dev/null';
            open STDERR, '>', '/dev/null';
            exec @$cmd or exit 127;
        }
        waitpid $pid, 0;
        die "@$cmd failed\n" if $?;
    }
    return ( "${dir}ca.pem", "${dir}server.pem", "${dir}server.key" );
}

# raw_upgrade($server, $path, @header_lines): sends an upgrade request to
# $server (a WebSocket::Server) from a plain socket, running the server's
# events meanwhile; returns the response (head, and body when it has one)
# and the socket.
sub raw_upgrade {
    my ( $server, $path, @headers ) = @_;
    my $sock = IO::Socket::INET->new( PeerAddr => '127.0.0.1', PeerPort => $server->port, Timeout => 5 )
      or die "connect: $!";
    print $sock join "\r\n", "GET $path HTTP/1.1", 'Host: 127.0.0.1', 'Upgrade: websocket',
      'Connection: Upgrade', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13',
      @headers, '', '';
    my $response = '';
    my $until    = Time::HiRes::time() + 5;
    while ( $response !~ /\r\n\r\n/ && Time::HiRes::time() < $until ) {
        WebSocket::FFI::wait_and_dispatch(0.02);
        my $rin = '';
        vec( $rin, fileno $sock, 1 ) = 1;
        next unless select( my $rout = $rin, undef, undef, 0.02 );
        sysread( $sock, $response, 4096, length $response ) or last;
    }
    # Read the body too, when the response has one.
    if ( $response =~ /Content-Length: (\d+)/i ) {
        my $want = $1;
        my ($head) = $response =~ /\A(.*?\r\n\r\n)/s;
        while ( length($response) - length($head) < $want && Time::HiRes::time() < $until ) {
            sysread( $sock, $response, 4096, length $response ) or last;
        }
    }
    return ( $response, $sock );
}

1;

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/lib";
use Test::More;

alarm 30;    # a hang fails the test instead of stalling the suite
use File::Temp ();
use TestPeer qw( start_echo start_echo_at );

# The SYNOPSIS of each module runs as written. The client ones talk to
# build/echo_server on its default port 9001; only when that port is taken
# here do they get a free port instead.
my $peer = eval { start_echo_at(9001) } || start_echo();
diag 'port 9001 is taken: the SYNOPSIS examples use port ' . $peer->port . ' instead' if $peer->port != 9001;
my $lib  = "$FindBin::Bin/../lib";

sub synopsis {
    my ($file) = @_;
    open my $fh, '<', $file or die "$file: $!";
    my $pod = do { local $/; <$fh> };
    my ($code) = $pod =~ /^=head1 SYNOPSIS\n(.*?)^=head1/ms or die "no SYNOPSIS in $file";
    $code =~ s/^    //mg;
    $code =~ s/:9001/':' . $peer->port/ge;
    return $code;
}

sub run_synopsis {
    my ($module) = @_;
    my $tmp = File::Temp->new( SUFFIX => '.pl' );
    print $tmp synopsis("$lib/$module");
    close $tmp;
    my $out = `'$^X' '-I$lib' '$tmp' 2>&1`;
    return ( $? >> 8, $out );
}

my ( $rc, $out ) = run_synopsis('WebSocket.pm');
is( $rc, 0, 'WebSocket SYNOPSIS runs' ) or diag $out;
is( $out, "1000\nreceived: hello\n", '... and prints what it says' );

( $rc, $out ) = run_synopsis('WebSocket/Client.pm');
is( $rc, 0, 'WebSocket::Client SYNOPSIS runs' ) or diag $out;
is( $out, "received: héllo ☃\nclosed with 1000\n", '... and prints the echo and the close' );

( $rc, $out ) = run_synopsis('WebSocket/Server.pm');
is( $rc, 0, 'WebSocket::Server SYNOPSIS runs' ) or diag $out;
like( $out, qr{^listening on ws://127\.0\.0\.1:\d+/\necho: hello\n\z}, '... and prints the port and the echo' );

( $rc, $out ) = run_synopsis('WebSocket/Connection.pm');
is( $rc, 0, 'WebSocket::Connection SYNOPSIS runs' ) or diag $out;
is( $out, "client got: welcome\nclient got: you said: hi\nclient left with 1000\n", '... and prints both sides' );

( $rc, $out ) = run_synopsis('WebSocket/Exception.pm');
is( $rc, 0, 'WebSocket::Exception SYNOPSIS runs' ) or diag $out;
like( $out, qr/^failed \(-5\): .*refused.*\nsame text: .*refused/is, '... and shows the error' );

( $rc, $out ) = run_synopsis('WebSocket/Frame.pm');
is( $rc, 0, 'WebSocket::Frame SYNOPSIS runs' ) or diag $out;
is( $out, "text: héllo ☃\nping: still there?\n", '... and prints the decoded messages' );

( $rc, $out ) = run_synopsis('WebSocket/Object.pm');
is( $rc, 0, 'WebSocket::Object SYNOPSIS runs' ) or diag $out;
is( $out, "error: bad value\n", '... and shows the error model' );

( $rc, $out ) = run_synopsis('WebSocket/Endpoint.pm');
is( $rc, 0, 'WebSocket::Endpoint SYNOPSIS runs' ) or diag $out;
is( $out, "error: ping: not connected (the connection is not open)\n", '... and shows a send refused' );

( $rc, $out ) = run_synopsis('WebSocket/FFI.pm');
is( $rc, 0, 'WebSocket::FFI SYNOPSIS runs' ) or diag $out;
like( $out, qr{^\d+\.\d+\.\d+ from /}, '... and prints the version and the path' );

done_testing;

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes ();

alarm 60;    # a hang fails the test instead of stalling the suite
use TestPeer qw( run_until raw_ws_client read_frame );
use WebSocket::Server;

# The binding handles events on this thread, after the library's I/O thread
# has read them. A client that sends messages and closes at once (a close
# frame, or just the end of TCP) still gets the answers: the library holds
# its side of the close until they are dispatched. A server shutdown
# answers what had arrived before its 1001.

# A masked text frame, as a client sends it.
sub text_frame {
    my ($text) = @_;
    my $mask = pack 'N', 0x1234abcd;
    my $masked = $text ^ substr( $mask x ( length($text) / 4 + 1 ), 0, length $text );
    return pack( 'CC', 0x81, 0x80 | length $text ) . $mask . $masked;
}

sub close_frame {
    my ($code) = @_;
    my $mask    = pack 'N', 0;
    return pack( 'CC', 0x88, 0x82 ) . $mask . pack( 'n', $code );
}

# An echo server (%opts: more options).
sub echo_server {
    my (%opts) = @_;
    my $server = WebSocket::Server->new(
        host       => '127.0.0.1',
        port       => 0,
        on_connect => sub { $_[1]->on( utf8 => sub { $_[0]->send_utf8("echo: $_[1]") } ) },
        %opts,
    );
    $server->listen or die $server->error;
    return $server;
}
my $server = echo_server();

# Reads what the server sends until it ends the connection, running the event
# loop meanwhile: the text messages and the close code (undef without one).
sub answers {
    my ($sock) = @_;
    my ( @texts, $code );
    my $ready = IO::Select->new($sock);
    while (1) {
        run_until( 'a frame or the end', sub { $ready->can_read(0) } ) or last;
        my ( $b0, $payload ) = eval { read_frame($sock) };
        last unless defined $b0;
        if ( $b0 == 0x81 ) { push @texts, $payload; next }
        if ( $b0 == 0x88 ) { $code = unpack 'n', $payload; last }
    }
    return ( \@texts, $code );
}

my @sent = map {"m$_"} 1 .. 10;

subtest 'a close frame right after the messages: every answer comes first' => sub {
    my ($sock) = raw_ws_client( $server->port );
    print $sock join( '', map { text_frame($_) } @sent ), close_frame(1000);
    Time::HiRes::sleep(0.2);    # the I/O thread reads the close long before we dispatch
    my ( $texts, $code ) = answers($sock);
    is_deeply( $texts, [ map {"echo: $_"} @sent ], 'the 10 echoes, in order' );
    is( $code, 1000, 'then the answer to the close frame' );
    close $sock;
};

subtest 'FIN right after the messages: every answer comes before the end' => sub {
    my ($sock) = raw_ws_client( $server->port );
    print $sock join( '', map { text_frame($_) } @sent );
    shutdown $sock, 1;
    Time::HiRes::sleep(0.2);
    my ( $texts, $code ) = answers($sock);
    is_deeply( $texts, [ map {"echo: $_"} @sent ], 'the 10 echoes, in order' );
    is( $code, undef, 'then the end, without a close frame' );
    close $sock;
};

subtest 'a shutdown answers what had arrived, then says 1001' => sub {
    my $server = echo_server( blocking => 0 );    # shutdown returns at once; the loop runs below
    my @socks = map { ( raw_ws_client( $server->port ) )[0] } 1 .. 5;
    run_until( 'the connections', sub { $server->connections == 5 } );
    print $_ text_frame('last') for @socks;
    $server->shutdown;
    for my $sock (@socks) {
        my ( $texts, $code ) = answers($sock);
        is_deeply( $texts, ['echo: last'], 'the message that had arrived is answered' );
        is( $code, 1001, '... before the 1001' );
        close $sock;
    }
};

done_testing;

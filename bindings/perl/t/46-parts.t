use strict;
use warnings;
use utf8;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/lib";
use Test::More;

alarm 60;    # a hang fails the test instead of stalling the suite
use TestPeer qw( run_until raw_ws_client read_frame );
use WebSocket::Client;
use WebSocket::Server;

# Options of a send (compress), messages sent in parts (start_message),
# messages received in parts (receive_parts, on_part).

# A server on a free port: its connections record whole messages and
# pieces in @$log, and the latest connection in $$conn.
sub server {
    my ( $log, $conn, %opts ) = @_;
    my $server = WebSocket::Server->new(
        host       => '127.0.0.1',
        port       => 0,
        on_connect => sub {
            $_[1]->on(
                ready  => sub { $$conn = $_[0] },
                utf8   => sub { push @$log, [ utf8   => $_[1] ] },
                binary => sub { push @$log, [ binary => $_[1] ] },
                part   => sub { push @$log, [ part   => $_[1], $_[2] ] },
            );
        },
        %opts,
    );
    $server->listen or die $server->error;
    return $server;
}

sub url { 'ws://127.0.0.1:' . $_[0]->port . '/' }

subtest 'compress => 1 and compress => 0 decide, whatever the threshold' => sub {
    my $conn;
    my $server = server( [], \$conn, extensions => 'permessage-deflate' );
    my ( $sock, $head ) = raw_ws_client( $server->port, 'Sec-WebSocket-Extensions: permessage-deflate' );
    like( $head, qr/permessage-deflate/, 'deflate negotiated' );
    run_until( 'ready', sub { $conn } ) or return;
    my $large = 'x' x 20_000;
    ok( $conn->send_utf8('small'),                    'a small message' );
    ok( $conn->send_utf8( 'small', compress => 1 ),   'a small message, compress => 1' );
    ok( $conn->send( text => $large ),                'a large message' );
    ok( $conn->send( text => $large, compress => 0 ), 'a large message, compress => 0' );
    ok( $conn->send_binary( "\0\1", compress => 1 ),  'binary, compress => 1' );
    my @frames = map { [ read_frame($sock) ] } 1 .. 5;
    is( $frames[0][0], 0x81, 'under the threshold: not compressed' );
    is( $frames[1][0], 0xc1, 'compress => 1: compressed (RSV1)' );
    is( $frames[2][0], 0xc1, 'over the threshold: compressed' );
    is_deeply( $frames[3], [ 0x81, $large ], 'compress => 0: not compressed' );
    is( $frames[4][0], 0xc2, 'binary with compress => 1: compressed' );
    ok( !eval { $conn->send_utf8( 'x', squeeze => 1 ); 1 }, 'an unknown send option croaks' );
    like( $@, qr/send_utf8: unknown option 'squeeze'/, '... naming it' );
    ok( !eval { $conn->send( ping => 'x', compress => 1 ); 1 }, 'send(ping) with options croaks' );
    close $sock;
    $server->shutdown;
};

subtest 'messages in parts arrive as one message, both ways, with deflate' => sub {
    my ( @log, $conn, @got );
    my $server = server( \@log, \$conn, extensions => 'permessage-deflate' );
    my $client = WebSocket::Client->new( url($server),
        extensions => 'permessage-deflate',
        on_binary  => sub { push @got, $_[1] },
    );
    ok( $client->connect, 'connects with deflate' ) or diag $client->error;
    run_until( 'ready', sub { $conn } ) or return;

    my $msg = $client->start_message('text');
    isa_ok( $msg, 'WebSocket::Message', 'start_message' );
    is( $msg->type, 'text', 'its type' );
    ok( $msg->send('héllo '), 'a part' );
    ok( $client->send_utf8('after'), 'a whole message meanwhile' );
    ok( $msg->send('wörld ☃'), 'another part' );
    ok( $msg->finish('!'), 'the last part' );
    ok( !$msg->is_open, 'the message is finished' );
    ok( $client->send( 'small', compress => 1 ), 'a small message with compress => 1' );
    run_until( 'three messages', sub { @log >= 3 } );
    is_deeply( \@log, [ [ utf8 => 'héllo wörld ☃!' ], [ utf8 => 'after' ], [ utf8 => 'small' ] ],
        'one message from the parts, the other one after it' );

    my $bin = $conn->start_message( 'binary', compress => 1 ) or diag $conn->error;
    my @parts = map { chr($_) x 50_000 } 0 .. 9;
    ok( ( !grep { !$bin->send($_) } @parts ), 'ten binary parts from the server' );
    ok( $bin->finish, 'finished without a last part' );
    run_until( 'the binary message', sub { @got } );
    ok( $got[0] eq join( '', @parts ), 'the client got them as one message' );
    is( scalar @got, 1, '... and nothing else' );
    ok( $client->disconnect, 'closes' );
    $server->shutdown;
};

subtest 'errors of messages in parts are errors, not deaths' => sub {
    my ( @log, $conn );
    my $server = server( \@log, \$conn );
    my $client = WebSocket::Client->new( url($server) );
    $client->connect or diag $client->error;
    run_until( 'ready', sub { $conn } ) or return;
    my $msg = $conn->start_message('text');
    ok( $msg, 'a message in parts' );
    ok( !defined $conn->start_message('binary'), 'a second one while it is open fails' );
    is( $conn->error->code, -15, '... with WS_ERR_BAD_STATE' );
    ok( $msg->finish('done'), 'the first one finishes' );
    ok( !defined $msg->send('more'), 'a part after the finish fails' );
    is( $msg->error->code, -15, '... with WS_ERR_BAD_STATE' );
    like( $msg->error->message, qr/^send: the message is finished/, '... saying why' );
    ok( !defined $msg->finish, 'so does a second finish' );
    ok( !defined $conn->start_message('ping'), 'start_message of a ping fails' );
    is( $conn->error->code, -2, '... with WS_ERR_INVALID_ARGUMENT' );
    ok( !eval { $conn->start_message( 'text', compress => 1, 'odd' ); 1 }, 'odd options croak' );
    my $next = $conn->start_message('binary');
    ok( $next, 'a new message in parts once the first is finished' );
    ok( $next->finish("\xff"), '... in one more part' );
    $client->disconnect;
    ok( !defined $next->send('late'), 'a part of a finished message on a closed connection fails' );
    my $closed = $conn->start_message('text');
    ok( !defined $closed, 'start_message on a closed connection fails' );
    is( $conn->error->code, -8, '... with WS_ERR_NOT_OPEN' );
    $server->shutdown;
};

subtest 'receive_parts: a large message arrives in pieces' => sub {
    my ( @log, $conn );
    my $server = server( \@log, \$conn, receive_parts => 1 );
    my @pieces;
    my $client = WebSocket::Client->new( url($server),
        receive_parts => 1,
        on_part       => sub { push @pieces, [ $_[1], $_[2] ] },
    );
    ok( $client->connect, 'connects' ) or diag $client->error;
    run_until( 'ready', sub { $conn } ) or return;

    my $text   = 'é☃x' x ( 1 << 20 );    # 6 MiB of UTF-8
    my $binary = join( '', map { chr( $_ % 251 ) } 0 .. 250 ) x ( ( 8 << 20 ) / 251 );    # about 8 MiB
    ok( $client->send_utf8($text),     '6 MiB of text sent' );
    ok( $client->send_binary($binary), '8 MiB of binary sent' );
    ok( $client->send_utf8('tiny'),    'a small message sent' );
    my $done = sub { grep { $_->[2]{last} } @log };
    run_until( 'the three messages', sub { $done->() == 3 }, 20 );
    is( scalar( grep { $_->[0] ne 'part' } @log ), 0, 'no on_utf8 or on_binary' );

    my @messages;
    for my $entry (@log) {
        push @messages, [] if $entry->[2]{first};
        push @{ $messages[-1] }, $entry;
    }
    is( scalar @messages, 3, 'three messages' );
    my @want = ( [ text => $text ], [ binary => $binary ], [ text => 'tiny' ] );
    for my $i ( 0 .. $#want ) {
        my ( $type, $data ) = @{ $want[$i] };
        my @p     = @{ $messages[$i] };
        my $bytes = $type eq 'text' ? do { my $b = $data; utf8::encode($b); length $b } : length $data;
        my $seen  = 0;
        my @total = map { $seen += $type eq 'text' ? do { my $b = $_->[1]; utf8::encode($b); length $b } : length $_->[1] } @p;
        note "message $i: " . scalar(@p) . ' pieces';
        ok( @p > 1 || length $data < 1000, "message $i: " . scalar(@p) . ' piece(s)' );
        ok( join( '', map { $_->[1] } @p ) eq $data, "message $i: the pieces join to what was sent" );
        ok( ( !grep { $_->[2]{type} ne $type } @p ), "message $i: every piece is $type" );
        is_deeply( [ map { $_->[2]{first} } @p ], [ 1, (0) x $#p ], "message $i: only the first piece is first" );
        is_deeply( [ map { $_->[2]{last} } @p ], [ (0) x $#p, 1 ], "message $i: only the last piece is last" );
        is_deeply( [ map { $_->[2]{total} } @p ], \@total, "message $i: total counts the bytes so far" );
        is( $p[-1][2]{total}, $bytes, "message $i: the last total is the message's size" );
    }
    ok( ( !grep { utf8::is_utf8( $_->[1] ) } @{ $messages[1] } ), 'binary pieces are bytes' );

    ok( $conn->send_binary( 'z' x ( 3 << 20 ) ), 'the server sends 3 MiB' );
    run_until( 'the pieces at the client', sub { @pieces && $pieces[-1][1]{last} }, 10 );
    cmp_ok( scalar @pieces, '>', 1, 'the client got them in ' . scalar(@pieces) . ' pieces' );
    ok( join( '', map { $_->[0] } @pieces ) eq 'z' x ( 3 << 20 ), '... which join to what was sent' );
    ok( $client->disconnect, 'closes' );
    $server->shutdown;
};

done_testing;

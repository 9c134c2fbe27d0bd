use strict;
use warnings;
use utf8;
use Encode ();
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;

alarm 60;    # a hang fails the test instead of stalling the suite
use WebSocket::Frame;

binmode Test::More->builder->$_, ':encoding(UTF-8)' for qw( output failure_output todo_output );

# Every message a new decoder gives for $bytes appended in $chunk-byte pieces
# (next called after each piece): [ [ type, payload ], ... ].
sub decode_all {
    my ( $bytes, $chunk, %opts ) = @_;
    my $f = WebSocket::Frame->new(%opts);
    my @got;
    for ( my $off = 0 ; $off < length $bytes ; $off += $chunk ) {
        $f->append( substr( $bytes, $off, $chunk ) ) or return ( \@got, $f );
        while ( defined( my $m = $f->next ) ) {
            push @got, [ type_of($f), $m ];
        }
        return ( \@got, $f ) if $f->error;
    }
    return ( \@got, $f );
}

sub type_of {
    my ($f) = @_;
    return $f->is_text ? 'text'
      : $f->is_binary ? 'binary'
      : $f->is_ping   ? 'ping'
      : $f->is_pong   ? 'pong'
      : $f->is_close  ? 'close'
      : $f->is_continuation ? 'continuation'
      :                 'opcode ' . $f->opcode;
}

my @all_bytes = join '', map { chr } 0 .. 255;

# --- Encoding by hand-checked bytes --------------------------------------

is( unpack( 'H*', WebSocket::Frame->new('Hello')->to_bytes ), '810548656c6c6f', 'new($buffer): an unmasked text frame, the RFC bytes' );
is( unpack( 'H*', WebSocket::Frame->new( buffer => 'Hello', type => 'ping' )->to_bytes ), '890548656c6c6f', 'ping' );
is( unpack( 'H*', WebSocket::Frame->new( type => 'pong' )->to_bytes ), '8a00', 'empty pong' );
is( unpack( 'H*', WebSocket::Frame->new( buffer => pack( 'n', 1000 ), type => 'close' )->to_bytes ), '880203e8', 'close 1000' );
is( unpack( 'H*', WebSocket::Frame->new( buffer => 'ab', type => 'binary', fin => 0 )->to_bytes ), '02026162', 'binary without FIN' );
is( unpack( 'H*', WebSocket::Frame->new( buffer => 'c', opcode => 0 )->to_bytes ), '800163', 'continuation by opcode' );
is( length( WebSocket::Frame->new( buffer => 'x' x 126 )->to_bytes ), 130, '126 bytes: 16-bit length' );
is( length( WebSocket::Frame->new( buffer => 'x' x 65536, masked => 1 )->to_bytes ), 65536 + 14, '65536 masked: 64-bit length + key' );

{
    my $bytes = WebSocket::Frame->new( buffer => 'Hello', masked => 1 )->to_bytes;
    my ( $b0, $b1, $key, $body ) = unpack( 'C C a4 a*', $bytes );
    is( $b0, 0x81, 'masked: FIN + text' );
    is( $b1, 0x85, 'masked: mask bit + length 5' );
    is( $body ^ substr( $key x 2, 0, 5 ), 'Hello', 'the payload unmasks with the key' );
    my %keys = map { substr( WebSocket::Frame->new( buffer => 'x', masked => 1 )->to_bytes, 2, 4 ) => 1 } 1 .. 10;
    ok( keys %keys > 1, 'masking keys are random' );
}

# --- Round trips ----------------------------------------------------------

for my $masked ( 0, 1 ) {
    my $how = $masked ? 'masked' : 'unmasked';
    for my $case (
        [ text   => 'hello' ],
        [ text   => '' ],
        [ text   => "wide: héllo ☃ 😀" ],
        [ text   => "noncharacters: \x{FFFE} \x{FDD0} \x{10FFFF}" ],
        [ binary => $all_bytes[0] ],
        [ binary => '' ],
        [ ping   => 'are you there?' ],
        [ pong   => substr( $all_bytes[0], 0, 125 ) ],
        [ close  => pack( 'n', 4000 ) . Encode::encode( 'UTF-8', 'bye ☃' ) ],
        [ close  => '' ],
      )
    {
        my ( $type, $payload ) = @$case;
        my $bytes = WebSocket::Frame->new( buffer => $payload, type => $type, masked => $masked )->to_bytes;
        ok( defined $bytes, "$type ($how, " . length($payload) . ' chars) encodes' );
        my ( $got, $f ) = decode_all( $bytes, length $bytes );
        is_deeply( $got, [ [ $type, $payload ] ], "... and decodes to the same $type" ) or diag explain $got;
    }
    for my $len ( 0, 1, 125, 126, 65535, 65536 ) {
        my $payload = substr( $all_bytes[0] x ( 1 + $len / 256 ), 0, $len );
        my $bytes   = WebSocket::Frame->new( buffer => $payload, type => 'binary', masked => $masked )->to_bytes;
        my ( $got, $f ) = decode_all( $bytes, 65536 );
        ok( @$got == 1 && $got->[0][1] eq $payload, "$len bytes $how round trip" ) or diag $f->error;
    }
    my $big     = 'z' x 1_000_000;
    my $bytes   = WebSocket::Frame->new( buffer => $big, type => 'binary', masked => $masked )->to_bytes;
    my ( $got ) = decode_all( $bytes, 65536, max_payload_size => 2_000_000 );
    ok( @$got == 1 && $got->[0][1] eq $big, "1000000 bytes $how with max_payload_size 2000000" );
}

{
    my $f = WebSocket::Frame->new( buffer => $all_bytes[0], type => 'binary' );
    my $d = WebSocket::Frame->new;
    $d->append( $f->to_bytes );
    my $m = $d->next;
    is( length $m, 256, 'all 256 byte values' );
    is( $m, $all_bytes[0], '... come back unchanged' );
    ok( !utf8::is_utf8($m), '... as a byte string' );
    ok( $d->is_binary && !$d->is_text, 'is_binary' );
}

{
    my $text = "日本語 ☃ — ünïcödé";
    my $d = WebSocket::Frame->new;
    $d->append( WebSocket::Frame->new($text)->to_bytes );
    is( $d->next, $text, 'wide characters: next gives characters' );
    $d->append( WebSocket::Frame->new($text)->to_bytes );
    is( $d->next_bytes, Encode::encode( 'UTF-8', $text ), 'next_bytes gives the UTF-8 bytes' );
    ok( $d->is_text, 'is_text' );
    is( $d->next, undef, 'then nothing: undef' );
    is( $d->error, undef, '... without an error' );
    my @none = $d->next;
    is( scalar @none, 0, '... an empty list in list context' );
}

# --- Fragments, interleaved control frames, byte by byte --------------------

my $stream = join '',
  WebSocket::Frame->new( buffer => 'sn', type => 'text', fin => 0, masked => 1 )->to_bytes,
  WebSocket::Frame->new( buffer => 'p1', type => 'ping', masked => 1 )->to_bytes,
  # "☃" split across two continuation frames, as bytes
  WebSocket::Frame->new( buffer => "\xe2\x98", opcode => 0, fin => 0 )->to_bytes,
  WebSocket::Frame->new( buffer => 'p2', type => 'pong' )->to_bytes,
  WebSocket::Frame->new( buffer => "\x83w", opcode => 0, masked => 1 )->to_bytes,
  WebSocket::Frame->new( buffer => "\x00\xff", type => 'binary', fin => 0 )->to_bytes,
  WebSocket::Frame->new( buffer => "\x01", type => 'continuation' )->to_bytes,
  WebSocket::Frame->new( buffer => pack( 'n', 1000 ), type => 'close' )->to_bytes;
my $want = [ [ ping => 'p1' ], [ pong => 'p2' ], [ text => 'sn☃w' ], [ binary => "\x00\xff\x01" ], [ close => pack( 'n', 1000 ) ] ];
for my $chunk ( 1, 2, 3, 5, 7, 64, length $stream ) {
    my ($got) = decode_all( $stream, $chunk );
    is_deeply( $got, $want, "fragments with control frames between, in $chunk-byte pieces" );
}
{
    my $f = WebSocket::Frame->new;
    is( $f->append( substr( $stream, 0, 1 ) ), $f, 'append returns the object' );
    $f->append($_) for split //, substr( $stream, 1 );
    my @got;
    while ( defined( my $m = $f->next ) ) { push @got, [ type_of($f), $m ] }
    is_deeply( \@got, $want, 'appended byte by byte without next, then next takes all' );
    is( $f->fin, 1, 'fin after next is 1' );
}

# --- A frame built by hand ----------------------------------------------------

{
    my $key     = pack( 'C4', 0x37, 0xfa, 0x21, 0x3d );
    my $payload = 'Hello';
    my $masked  = $payload ^ substr( $key x 2, 0, length $payload );
    my $frame   = pack( 'C C a4 a*', 0x81, 0x80 | length $payload, $key, $masked );
    is( unpack( 'H*', $frame ), '818537fa213d7f9f4d5158', 'the RFC 6455 masked Hello, built with pack' );
    my ($got) = decode_all( $frame, 1 );
    is_deeply( $got, [ [ text => 'Hello' ] ], '... parses' );

    my $long = 'L' x 300;
    my $f16  = pack( 'C C n a*', 0x82, 126, length $long, $long );
    ($got) = decode_all( $f16, 10 );
    is_deeply( $got, [ [ binary => $long ] ], 'a hand-made frame with a 16-bit length' );
    my $f64 = pack( 'C C N N a*', 0x82, 127, 0, length $long, $long );
    ($got) = decode_all( $f64, 10 );
    is_deeply( $got, [ [ binary => $long ] ], 'a hand-made frame with a 64-bit length' );
}

# --- Limits -------------------------------------------------------------------

{
    my $f = WebSocket::Frame->new;
    is( $f->max_payload_size,     65536, 'max_payload_size defaults to 65536' );
    is( $f->max_fragments_amount, 128,   'max_fragments_amount defaults to 128' );
    is( $f->max_payload_size(100),   $f, 'max_payload_size setter returns the object' );
    is( $f->max_fragments_amount(3), $f, 'max_fragments_amount setter returns the object' );
    is( $f->max_payload_size,     100, '... and keeps the value' );
    is( $f->max_fragments_amount, 3,   '... and keeps the value' );
}

{
    my ( $got, $f ) = decode_all( WebSocket::Frame->new( buffer => 'x' x 101, type => 'binary' )->to_bytes, 1000, max_payload_size => 100 );
    is_deeply( $got, [], 'a 101-byte message over max_payload_size 100: nothing' );
    isa_ok( $f->error, 'WebSocket::Exception', '... error' );
    is( $f->error->code, 1009, '... code 1009' );
    like( $f->error, qr/too large.*100 bytes/, '... saying so' );
    is( $f->close_code, 1009, 'close_code 1009' );
    ($got) = decode_all( WebSocket::Frame->new( buffer => 'x' x 100, type => 'binary' )->to_bytes, 1000, max_payload_size => 100 );
    is( length $got->[0][1], 100, '100 bytes pass' );

    my $two = WebSocket::Frame->new( buffer => 'x' x 60, fin => 0 )->to_bytes . WebSocket::Frame->new( buffer => 'x' x 41, opcode => 0 )->to_bytes;
    ( $got, $f ) = decode_all( $two, 7, max_payload_size => 100 );
    is( $f->error && $f->error->code, 1009, 'max_payload_size counts the whole message (60 + 41)' );
}

{
    my $frags = sub {
        my ($n) = @_;
        return join '', map { WebSocket::Frame->new( buffer => 'f', opcode => $_ ? 0 : 1, fin => $_ == $n - 1 )->to_bytes } 0 .. $n - 1;
    };
    my ( $got, $f ) = decode_all( $frags->(3), 100, max_fragments_amount => 3 );
    is_deeply( $got, [ [ text => 'fff' ] ], '3 fragments with max_fragments_amount 3' );
    ( $got, $f ) = decode_all( $frags->(4), 100, max_fragments_amount => 3 );
    is_deeply( $got, [], '4 fragments: nothing' );
    is( $f->error->code, 1009, '... 1009' );
    like( $f->error, qr/more than 3 fragments/, '... saying so' );
    ( $got, $f ) = decode_all( $frags->(129), 1 );
    like( $f->error, qr/more than 128 fragments/, '129 fragments over the default, byte by byte' );
    ($got) = decode_all( $frags->(129), 1000, max_fragments_amount => 0 );
    is( length $got->[0][1], 129, 'max_fragments_amount 0: no limit' );
}

{
    my $f = WebSocket::Frame->new;
    ok( !defined $f->append( "\0" x 70000 ), 'append of more than the decoder holds: undef' );
    is( $f->error->code, -10, '... WS_ERR_TOO_LARGE' );
    my $ping = WebSocket::Frame->new( type => 'ping' )->to_bytes;
    my $n    = 0;
    $n++ while $f->append($ping);
    is( $n, ( 65536 + 14 ) / 2, 'pings appended without next until the decoder is full' );
    is( $f->error->code, -9, '... then WS_ERR_QUEUE_FULL' );
    like( $f->error, qr/ws_frame_decoder_next/, '... saying to decode first' );
    my $taken = 0;
    $taken++ while defined $f->next;
    is( $taken, $n, 'next takes them all' );
    ok( $f->append($ping), 'then append works again' );
}

# --- Protocol errors ----------------------------------------------------------

for my $case (
    [ "\x81\x01\xff",                 1007, qr/UTF-8/,        'invalid UTF-8 text' ],
    [ "\x81\x02\xe2\x98",             1007, qr/UTF-8/,        'text ending inside a sequence' ],
    [ "\x01\x01\xe2\x80\x02\x98x",    1007, qr/UTF-8/,        'a sequence broken across fragments' ],
    [ "\x80\x01x",                    1002, qr/continuation/, 'continuation without a message' ],
    [ "\x01\x01a\x81\x01b",           1002, qr/before the last one/, 'a new message inside a fragmented one' ],
    [ "\x83\x00",                     1002, qr/reserved opcode/, 'reserved opcode' ],
    [ "\xc1\x00",                     1002, qr/RSV/,          'RSV1 without an extension' ],
    [ "\x09\x00",                     1002, qr/fragmented control/, 'ping without FIN' ],
    [ "\x89\x7e\x00\x7e",             1002, qr/125/,          'ping over 125 bytes' ],
    [ "\x88\x02\x03\xed",             1002, qr/close/,        'close code 1005 on the wire' ],
    [ "\x88\x03\x03\xe8\xff",         1007, qr/UTF-8/,        'close reason not UTF-8' ],
  )
{
    my ( $bytes, $code, $re, $what ) = @$case;
    my ( $got, $f ) = decode_all( $bytes, 1 );
    is_deeply( $got, [], "$what: no message" );
    isa_ok( $f->error, 'WebSocket::Exception', "$what: error" );
    is( $f->error && $f->error->code, $code, "$what: code $code" );
    like( $f->error, $re, "$what: message" );
}

{
    my $f = WebSocket::Frame->new;
    $f->append("\x81\x01\xff");
    is( $f->next, undef, 'invalid UTF-8: next returns undef' );
    my $e = $f->error;
    is( $f->next, undef, 'the failure is sticky: next again is undef' );
    like( $f->error, qr/UTF-8/, '... with the same reason' );
    ok( !defined $f->append('more'), 'append after the failure: undef' );
    like( $f->error, qr/failed earlier/, '... saying the stream failed earlier' );
}

# --- The error model and fatal ------------------------------------------------

{
    my $f = WebSocket::Frame->new( fatal => 1 );
    is( $f->fatal, 1, 'fatal' );
    $f->append("\x81\x01\xff");
    ok( !eval { $f->next; 1 }, 'with fatal => 1, next dies on a protocol error' );
    isa_ok( $@, 'WebSocket::Exception', '... with the exception' );
    is( $@->code, 1007, '... code 1007' );
    is( $f->error, $@, '... which is also the error' );

    my $g = WebSocket::Frame->new( fatal => 1, type => 'ping', buffer => 'x' x 126 );
    ok( !eval { $g->to_bytes; 1 }, 'with fatal => 1, to_bytes of a 126-byte ping dies' );
    like( "$@", qr/125/, '... saying why' );
    is( $g->fatal(0), $g, 'fatal(0) returns the object' );
    is( $g->to_bytes, undef, 'then to_bytes returns undef' );
    is( $g->error->code, -10, '... WS_ERR_TOO_LARGE' );
}

{
    my $f = WebSocket::Frame->new( opcode => 3 );
    is( $f->to_bytes, undef, 'reserved opcode 3: to_bytes returns undef' );
    is( $f->error->code, -2, '... WS_ERR_INVALID_ARGUMENT' );
    like( $f->error, qr/opcode 3/, '... naming it' );
    $f = WebSocket::Frame->new( type => 'close', fin => 0 );
    is( $f->to_bytes, undef, 'a close frame without FIN: undef' );
    like( $f->error, qr/fragmented/, '... saying control frames are not fragmented' );
    is( $f->opcode(2), $f, 'opcode setter returns the object' );
    is( $f->fin(1), $f, 'fin setter returns the object' );
    is( $f->masked(1), $f, 'masked setter returns the object' );
    ok( $f->is_binary && $f->masked && $f->fin, 'and they apply' );
    ok( defined $f->to_bytes, 'now it encodes' );
    ok( !defined $f->opcode(16), 'opcode 16 is refused' );
    is( $f->error->code, -2, '... as an invalid argument' );
    ok( !defined $f->max_payload_size(0), 'max_payload_size 0 is refused' );
    ok( !defined $f->max_fragments_amount('many'), 'max_fragments_amount "many" is refused' );
    is( $f->max_payload_size, 65536, '... and the values stay' );
}

ok( !eval { WebSocket::Frame->new( bogus => 1 ); 1 }, 'an unknown option croaks' );
like( $@, qr/unknown option 'bogus'/, '... naming it' );
ok( !eval { WebSocket::Frame->new( type => 'shout' ); 1 }, 'an unknown type croaks' );
ok( !eval { WebSocket::Frame->new( max_payload_size => 0 ); 1 }, 'max_payload_size => 0 croaks' );
ok( !eval { WebSocket::Frame->new( max_fragments_amount => -1 ); 1 }, 'max_fragments_amount => -1 croaks' );
ok( !eval { WebSocket::Frame->new( buffer => "\x{263a}", type => 'binary' )->to_bytes; 1 }, 'wide characters in a binary buffer croak' );
ok( !eval { WebSocket::Frame->new->append("\x{263a}"); 1 }, 'wide characters given to append croak' );
{
    no warnings;    # surrogates and code points above U+10FFFF
    for my $bad ( "a\x{D800}", "\x{110000}" ) {
        my $f = WebSocket::Frame->new($bad);
        is( $f->to_bytes, undef, sprintf( 'text with U+%04X: to_bytes returns undef', ord substr( $bad, -1 ) ) );
        is( $f->error && $f->error->code, -11, '... WS_ERR_INVALID_UTF8' );
    }
}

# Many decoders come and go (DESTROY frees each).
WebSocket::Frame->new->append("\x81\x05Hel") for 1 .. 1000;
pass('1000 decoders freed');

subtest 'type and supported_types' => sub {
    is_deeply( [ WebSocket::Frame->supported_types ], [qw( continuation text binary close ping pong )], 'supported_types, in opcode order' );
    my $f = WebSocket::Frame->new( buffer => 'x', type => 'pong' );
    is( $f->type, 'pong', 'type names the opcode' );
    is( $f->type('binary'), $f, 'type($name) returns the frame' );
    is( $f->opcode, 2, '... and sets the opcode' );
    is( $f->opcode(3)->type, undef, 'a reserved opcode has no type name' );
    ok( !defined $f->type('nonsense'), 'an unknown type is refused' );
    like( $f->error, qr/unknown type 'nonsense'/, '... saying so' );
    my $d = WebSocket::Frame->new;
    $d->append( WebSocket::Frame->new( buffer => 'bin', type => 'binary' )->to_bytes );
    is( $d->next, 'bin', 'a decoded message' );
    is( $d->type, 'binary', '... knows its type' );
};

subtest 'rsv, allow_rsv, fragments, supported_types($type)' => sub {
    ok( WebSocket::Frame->supported_types('PING'), 'supported_types($type), any case' );
    ok( !WebSocket::Frame->supported_types('bogus'), '... false for an unknown one' );
    isa_ok( scalar WebSocket::Frame->supported_types, 'WebSocket::Array', 'supported_types in scalar context' );

    my $f = WebSocket::Frame->new( buffer => 'zip', type => 'binary', rsv => [ 1, 0, 0 ] );
    is_deeply( [ @{ $f->rsv } ], [ 1, 0, 0 ], 'rsv reads back as three bits' );
    my $bytes = $f->to_bytes;
    is( ord($bytes) & 0x70, 0x40, 'to_bytes sets RSV1 in the header' );
    my $strict = WebSocket::Frame->new;
    $strict->append($bytes);
    ok( !defined $strict->next_bytes, 'a decoder refuses RSV1 by default' );
    is( $strict->error->code, 1002, '... with 1002' );
    my $d = WebSocket::Frame->new( allow_rsv => [ 1, 0, 0 ] );
    is_deeply( [ @{ $d->allow_rsv } ], [ 1, 0, 0 ], 'allow_rsv reads back' );
    $d->append($bytes);
    is( $d->next_bytes, 'zip', 'a decoder that allows RSV1 delivers the payload as it came' );
    is_deeply( [ @{ $d->rsv } ], [ 1, 0, 0 ], '... and rsv says RSV1' );
    $d->append( WebSocket::Frame->new( buffer => 'plain', type => 'binary' )->to_bytes );
    is( $d->next_bytes, 'plain', 'the next message' );
    is_deeply( [ @{ $d->rsv } ], [ 0, 0, 0 ], '... has no RSV bits' );
    ok( !defined $f->rsv( [ 1, 2, 0 ] ), 'rsv refuses what is not three bits' );
    is( $f->rsv(2)->rsv->[1], 1, 'rsv takes their number too (RSV2 = 2)' );

    my $parts = WebSocket::Frame->new( type => 'text', fragments => [ 'héllo ', 'wörld', '!' ] );
    is( $parts->fragments->length, 3, 'fragments reads back' );
    my $wire = $parts->to_bytes;
    is( ord($wire) & 0x8f, 0x01, 'the first frame: text, no FIN' );
    my $r = WebSocket::Frame->new;
    $r->append($wire);
    is( $r->next, 'héllo wörld!', 'the fragments decode as one message' );
    ok( $r->is_text, '... a text message' );
    ok( !defined WebSocket::Frame->new->fragments('nope'), 'fragments wants an array reference' );
};

done_testing;

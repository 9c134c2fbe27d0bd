package WebSocket::Frame;

use strict;
use warnings;
use Carp ();
use FFI::Platypus::Buffer qw( buffer_to_scalar grow scalar_to_pointer set_used_length );
use WebSocket::Exception;
use WebSocket::FFI;
use parent 'WebSocket::Object';

our $VERSION = '0.01';

# The frame codec of libwebsocket (ws_frame_* in include/websocket.h).
{
    my $ffi = $WebSocket::FFI::ffi;
    $ffi->attach( [ ws_frame_encoded_size => '_encoded_size' ] => [ 'size_t', 'int' ] => 'size_t' );
    $ffi->attach( [ ws_frame_encode_rsv => '_encode' ] =>
          [ 'int', 'int', 'uint', 'int', 'opaque', 'size_t', 'opaque', 'size_t', 'size_t*' ] => 'int' );
    $ffi->attach( [ ws_frame_decoder_allow_rsv => '_allow_rsv' ] => [ 'opaque', 'uint' ] => 'int' );
    $ffi->attach( [ ws_frame_decoder_rsv       => '_rsv' ]       => ['opaque'] => 'uint' );
    $ffi->attach( [ ws_frame_decoder_new  => '_decoder_new' ]  => [] => 'opaque' );
    $ffi->attach( [ ws_frame_decoder_free => '_decoder_free' ] => ['opaque'] => 'void' );
    $ffi->attach( [ ws_frame_decoder_set_max_payload_size => '_set_max_payload_size' ] => [ 'opaque', 'uint64' ] => 'int' );
    $ffi->attach( [ ws_frame_decoder_set_max_fragments => '_set_max_fragments' ] => [ 'opaque', 'uint64' ] => 'int' );
    $ffi->attach( [ ws_frame_decoder_append => '_append' ] => [ 'opaque', 'opaque', 'size_t' ] => 'int' );
    $ffi->attach( [ ws_frame_decoder_next => '_next' ] => [ 'opaque', 'int*', 'opaque*', 'size_t*' ] => 'int' );
    $ffi->attach( [ ws_frame_decoder_close_code => '_close_code' ] => ['opaque'] => 'int' );
}

use constant {
    OPCODE_CONTINUATION => 0,
    OPCODE_TEXT         => 1,
    OPCODE_BINARY       => 2,
    OPCODE_CLOSE        => 8,
    OPCODE_PING         => 9,
    OPCODE_PONG         => 10,
    FRAME_NONE          => 1,    # WS_FRAME_NONE
};

my %TYPES = (
    continuation => OPCODE_CONTINUATION,
    text         => OPCODE_TEXT,
    binary       => OPCODE_BINARY,
    close        => OPCODE_CLOSE,
    ping         => OPCODE_PING,
    pong         => OPCODE_PONG,
);

my %OPTIONS = map { $_ => 1 } qw( buffer type opcode fin masked max_payload_size max_fragments_amount fatal debug version rsv allow_rsv fragments );

sub _count {
    my ($v) = @_;
    return defined $v && !ref $v && $v =~ /\A[0-9]+\z/;
}

sub new {
    my $class = shift;
    my %opts = @_ % 2 ? ( buffer => @_ ) : @_;
    for my $key ( sort keys %opts ) {
        Carp::croak("WebSocket::Frame->new: unknown option '$key'") unless $OPTIONS{$key};
    }
    my $opcode = OPCODE_TEXT;
    if ( defined $opts{type} ) {
        $opcode = $TYPES{ $opts{type} };
        Carp::croak("WebSocket::Frame->new: unknown type '$opts{type}' (text, binary, ping, pong, close or continuation)")
          unless defined $opcode;
    }
    if ( defined $opts{opcode} ) {
        Carp::croak("WebSocket::Frame->new: opcode must be a number from 0 to 15, got '$opts{opcode}'")
          unless _count( $opts{opcode} ) && $opts{opcode} <= 15;
        $opcode = 0 + $opts{opcode};
    }
    for my $limit (qw( max_payload_size max_fragments_amount )) {
        next unless defined $opts{$limit};
        Carp::croak("WebSocket::Frame->new: $limit must be a whole number, got '$opts{$limit}'")
          unless _count( $opts{$limit} );
    }
    Carp::croak('WebSocket::Frame->new: max_payload_size must be positive')
      if defined $opts{max_payload_size} && $opts{max_payload_size} == 0;

    if ( my $why = WebSocket::Object::_bad_version( $opts{version} ) ) {
        Carp::croak("WebSocket::Frame->new: $why");
    }
    for my $bits (qw( rsv allow_rsv )) {
        Carp::croak("WebSocket::Frame->new: $bits must be three bits, [ rsv1, rsv2, rsv3 ]")
          if defined $opts{$bits} && !defined _rsv_number( $opts{$bits} );
    }
    my $decoder = _decoder_new() or Carp::croak( 'WebSocket::Frame->new: ' . ( WebSocket::FFI::last_error() )[1] );
    my $self = bless {
        buffer               => defined $opts{buffer} ? $opts{buffer} : '',
        opcode               => $opcode,
        fin                  => exists $opts{fin} ? ( $opts{fin} ? 1 : 0 ) : 1,
        masked               => $opts{masked} ? 1 : 0,
        max_payload_size     => 65536,
        max_fragments_amount => 128,
        fatal                => $opts{fatal} ? 1 : 0,
        debug                => $opts{debug},
        version              => $opts{version},
        rsv                  => _rsv_number( $opts{rsv} // 0 ),
        decoder              => $decoder,
    }, ref $class || $class;
    $self->fragments( $opts{fragments} ) or Carp::croak( 'WebSocket::Frame->new: ' . $self->error ) if defined $opts{fragments};
    $self->allow_rsv( $opts{allow_rsv} ) if defined $opts{allow_rsv};
    for my $limit (qw( max_payload_size max_fragments_amount )) {
        next unless defined $opts{$limit};
        # Checked above, so these cannot fail.
        $self->$limit( $opts{$limit} ) or Carp::croak( "WebSocket::Frame->new: " . $self->error );
    }
    return $self;
}

# --- Accessors ----------------------------------------------------------

sub opcode {
    my $self = shift;
    return $self->{opcode} unless @_;
    my $opcode = shift;
    return $self->_fail( -2, "opcode must be a number from 0 to 15, got '" . ( $opcode // 'undef' ) . "'" )
      unless _count($opcode) && $opcode <= 15;
    $self->{opcode} = 0 + $opcode;
    return $self;
}

sub fin {
    my $self = shift;
    return $self->{fin} unless @_;
    $self->{fin} = shift() ? 1 : 0;
    return $self;
}

sub masked {
    my $self = shift;
    return $self->{masked} unless @_;
    $self->{masked} = shift() ? 1 : 0;
    return $self;
}

sub max_payload_size {
    my $self = shift;
    return $self->{max_payload_size} unless @_;
    my $bytes = shift;
    return $self->_fail( -2, "max_payload_size must be a positive whole number, got '" . ( $bytes // 'undef' ) . "'" )
      unless _count($bytes) && $bytes > 0;
    return $self->_fail_last('max_payload_size') if _set_max_payload_size( $self->{decoder}, $bytes ) < 0;
    $self->{max_payload_size} = 0 + $bytes;
    return $self;
}

sub max_fragments_amount {
    my $self = shift;
    return $self->{max_fragments_amount} unless @_;
    my $count = shift;
    return $self->_fail( -2, "max_fragments_amount must be a whole number, got '" . ( $count // 'undef' ) . "'" )
      unless _count($count);
    return $self->_fail_last('max_fragments_amount') if _set_max_fragments( $self->{decoder}, $count ) < 0;
    $self->{max_fragments_amount} = 0 + $count;
    return $self;
}

# RSV bits as the number of the frame header's bit order (RSV1 = 4), from
# [ rsv1, rsv2, rsv3 ] (an array reference or a WebSocket::Array) or such a
# number; undef when it is neither.
sub _rsv_number {
    my ($bits) = @_;
    return $bits + 0 if defined $bits && !ref $bits && $bits =~ /\A[0-7]\z/;
    return undef unless ref $bits && eval { @$bits == 3 };
    return undef if grep { !defined || !/\A[01]\z/ } @$bits;
    return $bits->[0] * 4 + $bits->[1] * 2 + $bits->[2];
}

# [ rsv1, rsv2, rsv3 ] of a number.
sub _rsv_bits {
    my ($n) = @_;
    require WebSocket::Array;
    return WebSocket::Array->new( [ map { $n >> $_ & 1 } 2, 1, 0 ] );
}

# The RSV bits: to send with to_bytes, or of the message next returned last.
sub rsv {
    my $self = shift;
    return _rsv_bits( $self->{rsv} ) unless @_;
    my $n = _rsv_number( $_[0] );
    return $self->_fail( -2, 'rsv: expects three bits, [ rsv1, rsv2, rsv3 ]' ) unless defined $n;
    $self->{rsv} = $n;
    return $self;
}

# The RSV bits the decoder accepts (no extension is applied to such frames).
sub allow_rsv {
    my $self = shift;
    return _rsv_bits( $self->{allow_rsv} // 0 ) unless @_;
    my $n = _rsv_number( $_[0] );
    return $self->_fail( -2, 'allow_rsv: expects three bits, [ rsv1, rsv2, rsv3 ]' ) unless defined $n;
    return $self->_fail_last('allow_rsv') if _allow_rsv( $self->{decoder}, $n ) < 0;
    $self->{allow_rsv} = $n;
    return $self;
}

# The payloads to_bytes sends as the fragments of one message (an empty
# list: buffer, in one frame).
sub fragments {
    my $self = shift;
    require WebSocket::Array;
    return WebSocket::Array->new( [ @{ $self->{fragments} || [] } ] ) unless @_;
    my $parts = shift;
    return $self->_fail( -2, 'fragments: expects an array reference of payloads' )
      unless ref $parts && eval { my @p = @$parts; 1 } && !grep { !defined || ref } @$parts;
    $self->{fragments} = [@$parts];
    return $self;
}

# The name of the opcode ('text' ...), or sets the opcode by name.
sub type {
    my $self = shift;
    unless (@_) {
        my %names = reverse %TYPES;
        return $names{ $self->{opcode} };
    }
    my $type   = shift;
    my $opcode = defined $type ? $TYPES{$type} : undef;
    return $self->_fail( -2, 'type: unknown type ' . ( defined $type ? "'$type'" : 'undef' ) . ' (' . join( ', ', $self->supported_types ) . ')' )
      unless defined $opcode;
    $self->{opcode} = $opcode;
    return $self;
}

# With a type name: whether it is one (any case). Without: the type names in
# opcode order, a WebSocket::Array in scalar context.
sub supported_types {
    my ( undef, @type ) = @_;
    return defined $type[0] && exists $TYPES{ lc $type[0] } ? 1 : 0 if @type;
    my @names = sort { $TYPES{$a} <=> $TYPES{$b} } keys %TYPES;
    return @names if wantarray;
    require WebSocket::Array;
    return WebSocket::Array->new( \@names );
}

sub is_continuation { $_[0]{opcode} == OPCODE_CONTINUATION ? 1 : 0 }
sub is_text         { $_[0]{opcode} == OPCODE_TEXT         ? 1 : 0 }
sub is_binary       { $_[0]{opcode} == OPCODE_BINARY       ? 1 : 0 }
sub is_close        { $_[0]{opcode} == OPCODE_CLOSE        ? 1 : 0 }
sub is_ping         { $_[0]{opcode} == OPCODE_PING         ? 1 : 0 }
sub is_pong         { $_[0]{opcode} == OPCODE_PONG         ? 1 : 0 }

# The close code the peer should get after a protocol error, else undef.
sub close_code {
    my ($self) = @_;
    my $code = _close_code( $self->{decoder} );
    return $code ? $code : undef;
}

# --- Encoding -----------------------------------------------------------

sub to_bytes {
    my ($self) = @_;
    my @parts = @{ $self->{fragments} || [] };
    return $self->_encode_frame( $self->{opcode}, $self->{fin}, $self->{buffer} ) unless @parts;
    my $bytes = '';
    for my $i ( 0 .. $#parts ) {
        my $frame = $self->_encode_frame( $i ? OPCODE_CONTINUATION : $self->{opcode}, $i == $#parts ? 1 : 0, $parts[$i], $i )
          // return;
        $bytes .= $frame;
    }
    return $bytes;
}

# One frame: $payload (characters for text, made UTF-8) with $opcode and
# $fin, this frame's RSV bits on the first frame of a message, masked as
# the frame says.
sub _encode_frame {
    my ( $self, $opcode, $fin, $payload, $later ) = @_;
    $payload //= '';
    if ( $self->{opcode} == OPCODE_TEXT ) {
        # Not Encode's strict 'UTF-8', which silently replaces noncharacters
        # (U+FFFE, U+10FFFF ...) that UTF-8 and RFC 6455 allow.
        return $self->_fail( -11, 'to_bytes: the text holds a character UTF-8 cannot carry (a surrogate or one above U+10FFFF)' )
          if $payload =~ /[\x{D800}-\x{DFFF}]|[^\x{0}-\x{10FFFF}]/;
        utf8::encode($payload);
    }
    else {
        utf8::downgrade( $payload, 1 )
          or Carp::croak('to_bytes: wide character in the buffer of a non-text frame (encode the string first)');
    }
    my $size = _encoded_size( length $payload, $self->{masked} );
    # A buffer of our own for the C function to write into (never shared).
    my $out = '';
    grow( $out, $size, { set_length => 0 } );
    my ( $ptr, $len ) = WebSocket::FFI::buffer($payload);
    my $written = 0;
    my $rsv     = $later ? 0 : $self->{rsv};
    my $rc      = _encode( $opcode, $fin, $rsv, $self->{masked}, $ptr, $len, scalar_to_pointer($out), $size, \$written );
    return $self->_fail_last('to_bytes') if $rc < 0;
    set_used_length( $out, $written );
    return $out;
}

# --- Decoding -----------------------------------------------------------

sub append {
    my ( $self, $bytes ) = @_;
    return $self unless defined $bytes && length $bytes;
    utf8::downgrade( $bytes, 1 )
      or Carp::croak('append: wide character in the input (append bytes, not characters)');
    my ( $ptr, $len ) = WebSocket::FFI::buffer($bytes);
    return $self->_fail_last('append') if _append( $self->{decoder}, $ptr, $len ) < 0;
    return $self;
}

sub next_bytes {
    my ($self) = @_;
    my ( $opcode, $ptr, $len ) = ( -1, undef, 0 );
    my $rc = _next( $self->{decoder}, \$opcode, \$ptr, \$len );
    return if $rc == FRAME_NONE;
    if ( $rc < 0 ) {
        my ( $status, $message ) = WebSocket::FFI::last_error();
        my $code = _close_code( $self->{decoder} );
        return $self->_fail( $code || $status, $message );
    }
    $self->{opcode} = $opcode;
    $self->{fin}    = 1;
    $self->{rsv}    = _rsv( $self->{decoder} );
    return $len ? buffer_to_scalar( $ptr, $len ) : '';
}

sub next {
    my ($self) = @_;
    my $bytes = $self->next_bytes;
    return unless defined $bytes;
    # The library checked the UTF-8 (strictly); utf8::decode keeps
    # noncharacters, which Encode's 'UTF-8' would replace.
    utf8::decode($bytes) if $self->{opcode} == OPCODE_TEXT;
    return $bytes;
}

sub DESTROY {
    my ($self) = @_;
    if ( my $decoder = delete $self->{decoder} ) {
        _decoder_free($decoder);
    }
}

1;

__END__

=encoding utf8

=head1 NAME

WebSocket::Frame - build and parse WebSocket frames (RFC 6455) with libwebsocket

=head1 SYNOPSIS

    use utf8;
    use WebSocket::Frame;
    binmode STDOUT, ':encoding(UTF-8)';

    # Encoding: a masked text frame (as clients send them), then a ping.
    my $bytes = WebSocket::Frame->new( buffer => 'héllo ☃', masked => 1 )->to_bytes;
    $bytes .= WebSocket::Frame->new( buffer => 'still there?', type => 'ping' )->to_bytes;

    # Decoding: append bytes in any pieces, take out whole messages.
    my $frame = WebSocket::Frame->new( max_payload_size => 1024 );
    $frame->append($_) for split //, $bytes;    # here one byte at a time
    while ( defined( my $message = $frame->next ) ) {
        print $frame->is_text ? "text: $message\n" : "ping: $message\n";
    }
    die 'bad input: ', $frame->error, "\n" if $frame->error;

=head1 DESCRIPTION

A frame encoder and a stream decoder with no socket, for protocols that carry
WebSocket frames themselves, tests that build frames by hand, and code
written for L<Protocol::WebSocket::Frame>, whose API this follows. The work is
done by libwebsocket's C codec (C<ws_frame_encode>, C<ws_frame_decoder_*>),
which checks everything RFC 6455 asks of a receiver: reserved opcodes and RSV
bits, control frames (at most 125 bytes, not fragmented, valid close codes),
continuation order, and the UTF-8 of text messages (as it arrives, so a bad
message fails early). Frames may be masked or not, whichever direction they
go.

One object does both jobs: C<to_bytes> encodes C<buffer> with the C<opcode>,
C<fin> and C<masked> given; C<append> and C<next> decode a stream of frames
into whole messages (fragments joined) and control frames.

Errors do not die (unless you ask for it with C<< fatal => 1 >>): a method
that fails returns C<undef> (an empty list in list context) and C<error>
returns a L<WebSocket::Exception> saying why.

=head1 CONSTRUCTOR

=head2 new( %options ), new($buffer)

Croaks on an unknown option or an invalid value. Options:

=over 4

=item buffer

The payload C<to_bytes> encodes: characters for a text frame (encoded to
UTF-8), bytes otherwise. Default C<''>.

=item type

C<'text'> (the default), C<'binary'>, C<'ping'>, C<'pong'>, C<'close'> or
C<'continuation'>.

=item opcode

The opcode as a number (0 to 15), instead of C<type>. Reserved opcodes are
refused by C<to_bytes>.

=item fin

The FIN bit of the encoded frame: true (the default) for the last frame of a
message. Control frames must have it.

=item masked

Mask the encoded frame with a random key, as clients must. Default false.

=item max_payload_size

Largest message the decoder accepts, in bytes, after joining its fragments
(default 65536). A frame that would go over it fails the stream as soon as
its header arrives. Unlike L<Protocol::WebSocket::Frame>, it counts the whole
message, not each frame, and 0 is not allowed (there is always a limit).

=item max_fragments_amount

Most frames one message may have (default 128; 0 for no limit). Control
frames do not count.

=item rsv, allow_rsv, fragments

As the methods of the same names.

=item version

The protocol version: 13, C<draft-ietf-hybi-17> or a L<WebSocket::Version>
of it (the only framing spoken); another croaks.

=item debug

Accepted (see C<debug> in L<WebSocket::Object>).

=item fatal

When true, failing methods die with their L<WebSocket::Exception> instead of
returning C<undef>.

=back

=head1 METHODS

=head2 to_bytes

The frame as bytes: header (2 to 14 bytes) and payload. Returns C<undef> with
C<error> set for a reserved opcode, a control frame without C<fin>, or a
control payload over 125 bytes. Croaks when the buffer of a non-text frame
holds characters above 255.

=head2 append($bytes)

Adds bytes of the stream to decode (any piece: a byte, a frame, many
frames) and returns the object. Croaks on characters above 255.

Memory is bounded, whatever the peer sends: the decoder holds at most the
larger of C<max_payload_size> and 65536, plus 14, bytes not yet decoded, and
payload bytes move into their message as C<next> decodes them. An append
that would go over that returns C<undef> with C<error> set (code -9 when
calling C<next> until it returns C<undef> makes room, -10 when the piece
alone is too large). Appending what one read gives, then calling C<next>
until it returns C<undef>, always fits.

=head2 next

The next complete message or control frame: for text, the characters (the
UTF-8 is already checked); otherwise the bytes (for close, a 2-byte
big-endian code then the UTF-8 reason, or C<''>). Control frames that arrive
between the fragments of a message come out first. Returns C<undef> when
nothing is complete yet.

On a protocol error it returns C<undef> too, and sets C<error> (or dies, with
C<fatal>): a L<WebSocket::Exception> whose C<code> is the close code the peer
should get, 1002 (C<WS_PROTOCOL_ERROR>), 1007 (C<WS_BAD_MESSAGE>: invalid
UTF-8) or 1009 (C<WS_MESSAGE_TOO_LARGE>: over C<max_payload_size> or
C<max_fragments_amount>). The stream is then failed: every later C<next> and
C<append> fails the same way. So after C<next> returned C<undef>, check
C<error>.

=head2 next_bytes

Like C<next>, but text comes as its UTF-8 bytes.

=head2 is_text, is_binary, is_ping, is_pong, is_close, is_continuation

About the last message C<next> returned (before any, about the C<opcode>
given to C<new>).

=head2 opcode, fin, masked, max_payload_size, max_fragments_amount, fatal

Get, or set with an argument (then return the object, or C<undef> with
C<error> set for an invalid value). After C<next>, C<opcode> is the last
message's and C<fin> is 1.

=head2 type( [$name] )

The frame's type by name (C<continuation>, C<text>, C<binary>, C<close>,
C<ping>, C<pong>; C<undef> for a reserved opcode), or sets the opcode by
name and returns the frame.

=head2 version

The protocol version, a L<WebSocket::Version> (13, draft-ietf-hybi-17: the
only framing spoken; C<new> croaks on another C<version>).

=head2 supported_types( [$type] )

With a type name, whether it is one (case-insensitive). Without, the type
names in opcode order: a list, or a L<WebSocket::Array> in scalar context.
A class or instance method.

=head2 rsv( [ [$rsv1, $rsv2, $rsv3] ] )

The three RSV bits, a L<WebSocket::Array> of 0s and 1s: the ones
C<to_bytes> sets on the (first) frame, and after C<next> those of the
message it returned. With an argument (an array reference of three bits, or
their number 0-7 with RSV1 = 4), sets them and returns the frame. A
decoder refuses frames with RSV bits (closing with 1002) unless
C<allow_rsv> accepts them.

=head2 allow_rsv( [ [$rsv1, $rsv2, $rsv3] ] )

The RSV bits the decoder accepts (default none), e.g. C<[1, 0, 0]> to read
the frames of a permessage-deflate connection; they come out as they
arrived (nothing is decompressed), and text with RSV1 is not checked to be
UTF-8. With an argument, sets them and returns the frame.

=head2 fragments( [ \@payloads ] )

The payloads C<to_bytes> sends as the fragments of one message (the first
with the frame's type and RSV bits, the others as continuations, FIN on the
last); empty by default (C<buffer> goes in one frame). A
L<WebSocket::Array>; with an argument, sets them and returns the frame.

=head2 close_code

After a protocol error, the close code the peer should get; else C<undef>.

=head2 error

The last L<WebSocket::Exception>, or C<undef>.

=head1 SEE ALSO

L<WebSocket>, L<WebSocket::Exception>, L<Protocol::WebSocket::Frame>.

=cut

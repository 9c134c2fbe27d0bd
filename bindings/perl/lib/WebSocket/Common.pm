package WebSocket::Common;

use strict;
use warnings;
use Exporter ();
use HTTP::Status ();
use MIME::Base64 ();
use Digest::SHA ();
use Scalar::Util ();
use URI;
use WebSocket ();
use WebSocket::Array;
use WebSocket::Extension;
use WebSocket::Headers;
use WebSocket::Version;
use parent 'WebSocket::Base';

our $VERSION = '0.01';

# What parse_chunk returns.
use constant {
    PARSE_DONE       => 0,
    PARSE_INCOMPLETE => -1,
    PARSE_WAITING    => -2,
    PARSE_MAYBE_MORE => -3,
};
# The draft a request or response uses unless told (RFC 6455, version 13).
use constant WEBSOCKET_DRAFT_VERSION_DEFAULT => 'draft-ietf-hybi-17';
# The GUID of RFC 6455 section 1.3, appended to the key for the accept value.
use constant WEBSOCKET_GUID => '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

# The close codes are WebSocket's own constants, exported again from here.
BEGIN { no strict "refs"; *{ __PACKAGE__ . "::$_" } = \&{"WebSocket::$_"} for @WebSocket::WS_CONSTANTS }

our @PARSE_CONSTANTS = qw( PARSE_DONE PARSE_INCOMPLETE PARSE_WAITING PARSE_MAYBE_MORE );
our @EXPORT_OK = ( @PARSE_CONSTANTS, qw( WEBSOCKET_DRAFT_VERSION_DEFAULT WEBSOCKET_GUID ), @WebSocket::WS_CONSTANTS );
our %EXPORT_TAGS = (
    all   => [@EXPORT_OK],
    parse => [@PARSE_CONSTANTS],
    ws    => [@WebSocket::WS_CONSTANTS],
);

# Exporter's import only when called on this package: subclasses
# (WebSocket::Request, ...) import nothing.
sub import {
    my $class = shift;
    return unless $class eq __PACKAGE__ && @_;
    local $Exporter::ExportLevel = 1;
    return Exporter::import( $class, @_ );
}

# The default largest head parse and parse_chunk accept, in bytes.
our $MAX_MESSAGE_SIZE = 20480;

# Options every request and response takes (each the method of that name).
our @COMMON_OPTIONS = qw( buffer cookies debug extensions fatal headers host max_message_size origin protocol
  secure subprotocol uri version );

# Fills the object from constructor options; undef with error (recorded on
# the class too) when one is refused.
sub _init_options {
    my ( $self, $allowed, %opts ) = @_;
    my %ok = map { $_ => 1 } @COMMON_OPTIONS, @$allowed;
    # headers first: the other options set fields in them
    for my $key ( 'headers', grep { $_ ne 'headers' } sort keys %opts ) {
        next unless exists $opts{$key};
        return $self->_fail( -2, ref($self) . "->new: unknown option '$key'" ) unless $ok{$key};
        my $v = $opts{$key};
        next unless defined $v;
        if ( $key eq 'debug' || $key eq 'fatal' ) {
            $self->{$key} = $v;
            next;
        }
        defined $self->$key($v) or return;
    }
    return $self;
}

sub _common_init {
    my $self = shift;
    $self->{buffer}           = '';
    $self->{max_message_size} = $MAX_MESSAGE_SIZE;
    $self->{protocol}         = 'HTTP/1.1';
    $self->{subprotocol}      = WebSocket::Array->new;
    $self->{extensions}       = WebSocket::Array->new;
    $self->{is_done}          = 0;
    $self->{secure}           = 0;
    return $self;
}

sub buffer {
    my $self = shift;
    return $self->{buffer} unless @_;
    $self->{buffer} = shift // '';
    return $self;
}
sub content { shift->buffer(@_) }

sub headers {
    my $self = shift;
    if (@_) {
        my $v = shift;
        if ( Scalar::Util::blessed($v) && $v->isa('HTTP::Headers') ) {
            $self->{headers} = bless $v->clone, 'WebSocket::Headers';
        }
        elsif ( ref $v eq 'ARRAY' ) {
            return $self->_fail( -2, 'headers: an array reference of name => value pairs is expected' ) if @$v % 2;
            $self->{headers} = WebSocket::Headers->new(@$v);
        }
        else {
            return $self->_fail( -2, 'headers: expects an HTTP::Headers object or an array reference of pairs' );
        }
        return $self;
    }
    return $self->{headers} //= WebSocket::Headers->new;
}

sub header { shift->headers->header(@_) }

sub headers_as_string { shift->headers->as_string(@_) }

# A header field accessor: get, or set (undef removes) and return the object.
sub _field {
    my ( $self, $name ) = ( shift, shift );
    return scalar $self->headers->header($name) unless @_;
    my $v = shift;
    defined $v ? $self->headers->header( $name => "$v" ) : $self->headers->remove_header($name);
    return $self;
}

sub host       { shift->_field( 'Host',       @_ ) }
sub key1       { shift->_field( 'Sec-WebSocket-Key1', @_ ) }
sub key2       { shift->_field( 'Sec-WebSocket-Key2', @_ ) }
sub connection { shift->_field( 'Connection', @_ ) }
sub upgrade    { shift->_field( 'Upgrade',    @_ ) }

sub origin {
    my $self = shift;
    if (@_) {
        my $v = shift;
        $self->headers->remove_header('Sec-WebSocket-Origin') unless defined $v;
        return $self->_field( 'Origin', defined $v ? "$v" : undef );
    }
    my $o = $self->headers->header('Origin') // $self->headers->header('Sec-WebSocket-Origin');
    return defined $o && length $o ? URI->new($o) : undef;
}

sub is_done {
    my $self = shift;
    return $self->{is_done} unless @_;
    $self->{is_done} = shift() ? 1 : 0;
    return $self;
}

sub secure {
    my $self = shift;
    return $self->{secure} unless @_;
    $self->{secure} = shift() ? 1 : 0;
    return $self;
}

sub max_message_size {
    my $self = shift;
    return $self->{max_message_size} unless @_;
    my $v = shift;
    return $self->_fail( -2, "max_message_size: not a byte count: '$v'" ) unless defined $v && $v =~ /\A[0-9]+\z/;
    $self->{max_message_size} = $v;
    return $self;
}

sub protocol {
    my $self = shift;
    return $self->{protocol} unless @_;
    my $v = shift;
    # The CPAN distribution's examples pass the subprotocol as protocol.
    return $self->subprotocol($v) unless $v =~ m{\AHTTP/\d+\.\d+\z}i;
    $self->{protocol} = uc $v;
    return $self;
}

# subprotocol: a WebSocket::Array of names; set from "a, b" (or "a b"), an
# array reference, or several names.
sub subprotocol {
    my $self = shift;
    return $self->{subprotocol} unless @_;
    my @names = @_ == 1 ? ( ref $_[0] eq 'ARRAY' || Scalar::Util::blessed( $_[0] ) && $_[0]->isa('WebSocket::Array') ? @{ $_[0] } : split /[\s,]+/, $_[0] // '' ) : @_;
    @names = grep { defined && length } @names;
    for (@names) {
        return $self->_fail( -2, "subprotocol: '$_' is not a valid name" ) unless /\A[!#\$%&'*+.^_`|~0-9A-Za-z-]+\z/;
    }
    $self->{subprotocol} = WebSocket::Array->new(@names);
    return $self;
}
sub subprotocols { shift->subprotocol(@_) }

# extensions: a WebSocket::Array of WebSocket::Extension; set from a header
# value, an extension, or an array reference of either.
sub extensions {
    my $self = shift;
    return $self->{extensions} unless @_;
    my $v    = shift;
    my @list = ref $v eq 'ARRAY' || ( Scalar::Util::blessed($v) && $v->isa('WebSocket::Array') ) ? @$v : ($v);
    my $all  = WebSocket::Array->new;
    for my $e (@list) {
        next unless defined $e;
        if ( Scalar::Util::blessed($e) && $e->isa('WebSocket::HeaderValue') ) {
            $e = WebSocket::Extension->new_from_header("$e") or return $self->_pass( 'WebSocket::Extension', 'extensions' )
              unless $e->isa('WebSocket::Extension');
            $all->push($e);
        }
        else {
            my $parsed = WebSocket::Extension->new_from_multi("$e");
            return $self->_pass( 'WebSocket::Extension', 'extensions' ) unless defined $parsed;
            $all->push( $parsed->list );
        }
    }
    $self->{extensions} = $all;
    return $self;
}

# version: a WebSocket::Version; set from a number, a draft name or an object.
sub version {
    my $self = shift;
    return $self->{version} //= WebSocket::Version->new(WEBSOCKET_DRAFT_VERSION_DEFAULT) unless @_;
    my $v = shift;
    $v = WebSocket::Version->new($v) or return $self->_pass( 'WebSocket::Version', 'version' )
      unless Scalar::Util::blessed($v) && $v->isa('WebSocket::Version');
    $self->{version} = $v;
    return $self;
}

# The RFC 6455 accept value of a Sec-WebSocket-Key.
sub accept_for_key {
    my ( $self, $key ) = @_;
    return undef unless defined $key;
    return MIME::Base64::encode_base64( Digest::SHA::sha1( $key . WEBSOCKET_GUID ), '' );
}

# A new random Sec-WebSocket-Key: 16 bytes, base64.
sub generate_key {
    my $bytes = '';
    if ( open my $fh, '<:raw', '/dev/urandom' ) {
        read $fh, $bytes, 16;
        close $fh;
    }
    $bytes .= chr int rand 256 while length $bytes < 16;
    return MIME::Base64::encode_base64( $bytes, '' );
}

sub is_client_error { HTTP::Status::is_client_error( $_[1] ) ? 1 : 0 }
sub is_error        { HTTP::Status::is_error( $_[1] )        ? 1 : 0 }
sub is_info         { HTTP::Status::is_info( $_[1] )         ? 1 : 0 }
sub is_redirect     { HTTP::Status::is_redirect( $_[1] )     ? 1 : 0 }
sub is_server_error { HTTP::Status::is_server_error( $_[1] ) ? 1 : 0 }
sub is_success      { HTTP::Status::is_success( $_[1] )      ? 1 : 0 }
sub status_message  { HTTP::Status::status_message( $_[1] ) }

# parse: the head (first line, header lines, blank line) of $text, the rest
# being the buffer. The class fills itself from the first line
# (_parse_first_line) and checks the result (_parse_done).
sub parse {
    my ( $self, $text ) = @_;
    return $self->_fail( -2, 'parse: nothing to parse' ) unless defined $text && length $text;
    return $self->_fail( -10, "parse: more than max_message_size ($self->{max_message_size}) bytes" )
      if length($text) > $self->{max_message_size};
    ( my $head, my $rest ) = split /\r?\n\r?\n/, $text, 2;
    $head =~ s/\A(?:\r?\n)+//;
    my @lines = split /\r?\n/, $head;
    return $self->_fail( -7, 'parse: no first line' ) unless @lines && length $lines[0];
    $self->_parse_first_line( shift @lines ) or return;
    my $h = WebSocket::Headers->new;
    defined $h->parse_lines(@lines) or return $self->_pass( $h, 'parse' );
    $self->{headers} = $h;
    $self->{buffer}  = $rest // '';
    $self->_parse_done or return;
    $self->{is_done} = 1;
    return $self;
}

# parse_body: the checks and settings parse does after reading the head,
# run again on the fields as they are now.
sub parse_body {
    my $self = shift;
    $self->_parse_done or return;
    $self->{is_done} = 1;
    return $self;
}

# parse_chunk: parse fed piece by piece: PARSE_WAITING until the blank line
# after the head has come, then PARSE_DONE (undef with error if the head is
# wrong or too large).
sub parse_chunk {
    my ( $self, $chunk ) = @_;
    $self->{_pending} .= $chunk // '';
    $self->{_pending} =~ s/\A(?:\r?\n)+//;
    if ( $self->{_pending} =~ /\r?\n\r?\n/ ) {
        my $all = delete $self->{_pending};
        return $self->parse($all) ? PARSE_DONE : undef;
    }
    if ( length( $self->{_pending} ) > $self->{max_message_size} ) {
        delete $self->{_pending};
        return $self->_fail( -10, "parse_chunk: no end of head in max_message_size ($self->{max_message_size}) bytes" );
    }
    return PARSE_WAITING;
}

# Sets the fields of the WebSocket headers after parsing.
sub _parse_websocket_fields {
    my $self = shift;
    my $h    = $self->{headers};
    my @sub  = map { s/\A\s+|\s+\z//gr } map { split /,/ } $h->header('Sec-WebSocket-Protocol');
    $self->{subprotocol} = WebSocket::Array->new( grep { length } @sub );
    my @ext = $h->header('Sec-WebSocket-Extensions');
    if ( grep { defined && /\S/ } @ext ) {
        $self->extensions( join ', ', grep { defined && /\S/ } @ext ) or return;
    }
    else {
        $self->{extensions} = WebSocket::Array->new;
    }
    return $self;
}

# as_string helper: the first line, the fields and the buffer.
sub _head_as_string {
    my ( $self, $first, $eol ) = @_;
    $eol = "\r\n" unless defined $eol;
    my $fields = $self->headers->as_string($eol);
    return $first . $eol . $fields . $eol . $self->{buffer};
}

1;

__END__

=head1 NAME

WebSocket::Common - constants, and what WebSocket::Request and WebSocket::Response share

=head1 SYNOPSIS

    use WebSocket::Common qw( :all );     # or :parse, :ws, or names
    print WS_OK, ' ', PARSE_DONE, ' ', WEBSOCKET_DRAFT_VERSION_DEFAULT, "\n";
    # 1000 0 draft-ietf-hybi-17

    use WebSocket::Request;
    my @pieces = unpack '(a16)*', join "\r\n", 'GET / HTTP/1.1', 'Host: example.com',
      'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Version: 13', '', '';
    my $req = WebSocket::Request->new;
    for my $chunk (@pieces) {             # as read from a socket
        my $rc = $req->parse_chunk($chunk) // die $req->error, "\n";
        last if $rc == PARSE_DONE;
    }
    print $req->uri, "\n" if $req->is_done;  # ws://example.com/

=head1 DESCRIPTION

The base class of L<WebSocket::Request> and L<WebSocket::Response>: the
methods below work on both. It also exports constants (nothing by
default). The close codes are those of L<WebSocket>, exported again from
here rather than defined twice.

=head1 CONSTANTS

=over 4

=item C<:parse>

C<PARSE_DONE> (0), C<PARSE_INCOMPLETE> (-1), C<PARSE_WAITING> (-2),
C<PARSE_MAYBE_MORE> (-3): what C<parse_chunk> returns (it only uses
C<PARSE_DONE> and C<PARSE_WAITING>; the other two are for compatibility).

=item C<:ws>

C<WS_OK> (1000) ... C<WS_TLS_HANDSHAKE_FAIL> (1015): the close codes of
L<WebSocket>.

=item C<WEBSOCKET_DRAFT_VERSION_DEFAULT>

C<draft-ietf-hybi-17>, the draft (version 13, RFC 6455) a request or
response uses unless told.

=item C<WEBSOCKET_GUID>

C<258EAFA5-E914-47DA-95CA-C5AB0DC85B11>, the GUID of RFC 6455 the accept
value is computed with.

=item C<:all>

All of them.

=back

=head1 METHODS

Setters return the object, or C<undef> with C<error> set (see
L<WebSocket::Base>) when they refuse the value.

=head2 headers( [$headers] )

The L<WebSocket::Headers>; set from an L<HTTP::Headers> (copied) or an
array reference of name => value pairs.

=head2 header( $name [, $value] ), headers_as_string( [$eol] )

Shortcuts to the headers' C<header> and C<as_string>.

=head2 host, connection, upgrade, key1, key2

The C<Host>, C<Connection>, C<Upgrade>, C<Sec-WebSocket-Key1> and
C<Sec-WebSocket-Key2> fields (C<undef> removes them). The last two belong
to the two-key handshake of C<draft-ietf-hybi-00>: they can be read, but
libwebsocket does not speak that draft.

=head2 origin( [$origin] )

The C<Origin> (or, from older drafts, C<Sec-WebSocket-Origin>) field as a
L<URI>, C<undef> when absent; sets C<Origin>.

=head2 subprotocol( [$names] ), subprotocols

The subprotocols as a L<WebSocket::Array>; set from C<"a, b">, C<"a b">,
an array reference or a list. Names must be tokens.

=head2 extensions( [$extensions] )

The extensions as a L<WebSocket::Array> of L<WebSocket::Extension>; set
from a C<Sec-WebSocket-Extensions> value, an extension object or an array
reference of either.

=head2 version( [$version] )

The L<WebSocket::Version> (by default C<draft-ietf-hybi-17>, version 13);
set from a number, a draft name or an object. After parsing a request, the
version it asked for.

=head2 protocol( [$protocol] )

The HTTP version of the first line, C<HTTP/1.1>. Given anything that is
not C<HTTP/x.y>, it sets the subprotocol instead (some code written for
the CPAN distribution passes the subprotocol as C<protocol>).

=head2 buffer( [$bytes] ), content

What follows the head (nothing, in RFC 6455 handshakes).

=head2 secure( [$bool] )

Whether the connection uses TLS (C<wss>).

=head2 is_done( [$bool] )

True once C<parse> (or C<parse_chunk>) has read a whole, valid head.

=head2 max_message_size( [$bytes] )

The largest head C<parse> and C<parse_chunk> accept (default 20480).

=head2 parse( $text )

Parses a head: the first line (a request line, or a status line), the
header lines, a blank line (optional at the end of C<$text>), the rest
going to C<buffer>. C<\r\n> and C<\n> line ends both work. Returns the
object, or C<undef> with C<error> set (a WebSocket::Exception: -7 for text
that is not HTTP, -6 for a request RFC 6455 refuses, -10 when too large).

=head2 parse_body

Runs again the checks and settings C<parse> does once it has read the head
(for a request, the RFC 6455 checks, the version, subprotocols and
extensions), on the fields as they are now, e.g. after changing them.
Returns the object (C<is_done> true), or C<undef> with C<error> set.

=head2 parse_chunk( $chunk )

Adds a piece of a head: C<PARSE_WAITING> until the blank line after the
head has come, then what C<parse> gives as C<PARSE_DONE> or C<undef>.

=head2 accept_for_key( $key )

The C<Sec-WebSocket-Accept> value of a C<Sec-WebSocket-Key>: base64 of
the SHA-1 of the key followed by C<WEBSOCKET_GUID>.

=head2 generate_key

A new random key: 16 bytes from F</dev/urandom>, in base64.

=head2 is_info, is_success, is_redirect, is_error, is_client_error, is_server_error( $code ), status_message( $code )

What L<HTTP::Status> says of a status code.

=cut

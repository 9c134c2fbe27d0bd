package WebSocket::Endpoint;

# Internal: what a client and a server's connection share: sending on the
# library's connection handle ($self->{conn}), flow control, messages in
# parts.

use strict;
use warnings;
use Carp ();
use WebSocket::FFI;
use WebSocket::Message;
use parent 'WebSocket::Object';

our $VERSION = '0.01';

# Hands $bytes to the C sender $fn (ws_conn_ping ...); the object, or undef
# with error set. Refuses messages over max_send_size when one is set;
# records a backpressure the library reports.
sub _send_bytes {
    my ( $self, $what, $fn, $bytes ) = @_;
    return $self->_fail( -8, "$what: not connected (the connection is not open)" ) unless $self->{conn};
    utf8::downgrade( $bytes, 1 )
      or Carp::croak("$what: wide character in bytes (encode the string first)");
    if ( my $max = $self->{max_send_size} ) {
        return $self->_fail( -2, "$what: " . length($bytes) . " bytes is more than max_send_size ($max)" )
          if length($bytes) > $max;
    }
    my ( $ptr, $len ) = WebSocket::FFI::buffer($bytes);
    my $rc = $fn->( $self->{conn}, $ptr, $len );
    return $self->_fail_last($what) if $rc < 0;
    $self->{backpressure} = 1 if $rc == WebSocket::FFI::WS_STATUS_BACKPRESSURE;
    return $self;
}

sub ping {
    my ( $self, $data ) = @_;
    return $self->_send_bytes( ping => \&WebSocket::FFI::ws_conn_ping, defined $data ? $data : '' );
}

sub pong {
    my ( $self, $data ) = @_;
    return $self->_send_bytes( pong => \&WebSocket::FFI::ws_conn_pong, defined $data ? $data : '' );
}

# --- Options of a send, messages in parts, flow control ---------------------

my %KIND = (
    text   => WebSocket::FFI::WS_MESSAGE_TEXT,
    utf8   => WebSocket::FFI::WS_MESSAGE_TEXT,
    binary => WebSocket::FFI::WS_MESSAGE_BINARY,
);

# --- Pings and pongs --------------------------------------------------------

sub do_pong {
    my $self = shift;
    return $self->{do_pong} unless @_;
    my $cb = shift;
    Carp::croak('do_pong: not a code reference') if defined $cb && ref $cb ne 'CODE';
    $self->{do_pong} = $cb;
    $self->_sync_auto_pong;
    return $self;
}

sub _callback_changed {
    my ( $self, $name ) = @_;
    $self->_sync_auto_pong if $name eq 'on_ping';
}

# The library answers pings itself unless on_ping or do_pong is set; then
# _pinged does, after on_ping. Applied to the open connection (again when
# it opens).
sub _sync_auto_pong {
    my ($self) = @_;
    my $auto = $self->{on_ping} || $self->{do_pong} ? 0 : 1;
    return unless $self->{conn};
    $self->{auto_pong} = $auto if WebSocket::FFI::ws_conn_set_auto_pong( $self->{conn}, $auto ) >= 0;
    return;
}

# A ping arrived and on_ping returned $rv: unless the library answered it,
# do_pong (by default pong) answers, or nothing when $rv is defined but false.
sub _pinged {
    my ( $self, $rv, $data ) = @_;
    return if $self->{auto_pong} // 1;
    return if defined $rv && !$rv;
    my $do = $self->{do_pong};
    return $do ? $do->( $self, $data ) : $self->pong($data);
}

# Closes at once, without a close frame (the peer sees the TCP connection
# end); on_disconnect follows with 1006.
sub shutdown {
    my ($self) = @_;
    return $self->_fail( -8, 'shutdown: the connection is not open' ) unless $self->{conn};
    return $self->_fail_last('shutdown') if WebSocket::FFI::ws_conn_abort( $self->{conn} ) < 0;
    return $self;
}

# send's types, and the methods that send them.
my %SEND = (
    text   => 'send_utf8',
    utf8   => 'send_utf8',
    binary => 'send_binary',
    ping   => 'ping',
    pong   => 'pong',
);

# send($type, $data, %options), or send($text, %options): the type comes
# first when the arguments after the first are odd in number (the data, then
# option pairs).
sub send {
    my ( $self, @args ) = @_;
    return $self->send_utf8(@args) unless @args % 2 == 0 && @args;
    my ( $type, $data, @opts ) = @args;
    my $method = defined $type ? $SEND{$type} : undef;
    return $self->_fail( -2, 'send: unknown message type ' . ( defined $type ? "'$type'" : 'undef' )
          . ' (text, binary, ping or pong)' )
      unless $method;
    Carp::croak("send: a $type takes no options") if @opts && $method !~ /^send_/;
    return $self->$method( $data, @opts );
}

sub send_utf8 {
    my ( $self, $text, @opts ) = @_;
    return $self->_send_message( send_utf8 => WebSocket::FFI::WS_MESSAGE_TEXT,
        WebSocket::FFI::text_to_utf8($text), _send_flags( send_utf8 => @opts ) );
}

sub send_binary {
    my ( $self, $bytes, @opts ) = @_;
    return $self->_send_message( send_binary => WebSocket::FFI::WS_MESSAGE_BINARY,
        defined $bytes ? $bytes : '', _send_flags( send_binary => @opts ) );
}

# Opens a message in parts with an empty first part; its other parts go
# through the WebSocket::Message returned.
sub start_message {
    my ( $self, $type, @opts ) = @_;
    my $kind = defined $type ? $KIND{$type} : undef;
    return $self->_fail( -2, 'start_message: unknown message type ' . ( defined $type ? "'$type'" : 'undef' )
          . ' (text or binary)' )
      unless $kind;
    my $flags = _send_flags( start_message => @opts ) | WebSocket::FFI::WS_SEND_MORE;
    $self->_send_message( start_message => $kind, '', $flags ) or return;
    return WebSocket::Message->_new( $self, $kind );
}

# Queues $bytes as a message (or part) of $kind (WS_MESSAGE_*) with the
# WS_SEND_* $flags; the object, or undef with error set.
sub _send_message {
    my ( $self, $what, $kind, $bytes, $flags ) = @_;
    return $self->_send_bytes( $what, sub { WebSocket::FFI::ws_conn_send_ex( $_[0], $kind, $_[1], $_[2], $flags ) },
        $bytes );
}

# The WS_SEND_* flags of a send's options (compress => 1 or 0); croaks on
# any other option.
sub _send_flags {
    my ( $what, @opts ) = @_;
    Carp::croak("$what: options come in name => value pairs") if @opts % 2;
    my %opts     = @opts;
    my $compress = delete $opts{compress};
    Carp::croak("$what: unknown option '$_'") for sort keys %opts;
    return 0 unless defined $compress;
    return $compress ? WebSocket::FFI::WS_SEND_COMPRESS : WebSocket::FFI::WS_SEND_NO_COMPRESS;
}

sub buffered_amount {
    my ($self) = @_;
    return $self->{conn} ? WebSocket::FFI::ws_conn_buffered_amount( $self->{conn} ) : 0;
}

sub backpressure { $_[0]{backpressure} ? 1 : 0 }

# The library's on_drain: the backpressure is over.
sub _backpressure_over { delete $_[0]{backpressure} }

# The arguments of an on_part callback after the connection: the piece
# (text decoded to characters: each text piece is whole characters) and a
# hash of what it is.
sub _part_args {
    my ( $type, $bytes, $flags, $total ) = @_;
    my $text = $type == WebSocket::FFI::WS_MESSAGE_TEXT;
    return (
        $text ? WebSocket::FFI::utf8_to_text($bytes) : $bytes,
        {
            type  => $text ? 'text' : 'binary',
            first => $flags & WebSocket::FFI::WS_PART_FIRST ? 1 : 0,
            last  => $flags & WebSocket::FFI::WS_PART_LAST  ? 1 : 0,
            total => $total,
        }
    );
}

# --- Statistics -----------------------------------------------------------

sub id {
    my ($self) = @_;
    return WebSocket::FFI::ws_conn_id( $self->{conn} ) if $self->{conn};
    return $self->{last_stats} ? $self->{last_stats}{id} : undef;
}

sub stats {
    my ($self) = @_;
    unless ( $self->{conn} ) {
        return { %{ $self->{last_stats} } } if $self->{last_stats};
        return $self->_fail( -8, 'stats: not connected (the connection never opened)' );
    }
    return WebSocket::FFI::get_stats( \&WebSocket::FFI::ws_conn_get_stats, $self->{conn}, @WebSocket::FFI::CONN_STATS )
      // $self->_fail_last('stats');
}

# Keeps the connection's statistics, for after its handle goes.
sub _keep_stats {
    my ($self) = @_;
    $self->{last_stats} = $self->stats if $self->{conn};
}

1;

__END__

=head1 NAME

WebSocket::Endpoint - internal: sending, shared by WebSocket::Client and WebSocket::Connection

=head1 SYNOPSIS

    use WebSocket::Endpoint;
    my $closed = bless {}, 'WebSocket::Endpoint';    # no connection yet
    print defined $closed->ping('x') ? "sent\n" : "error: " . $closed->error . "\n";

=head1 DESCRIPTION

Not a public API: the base of L<WebSocket::Client> and
L<WebSocket::Connection> (itself a L<WebSocket::Object>), holding what both
do with the library's connection handle. C<id> and C<stats> are documented
in those classes.

=head1 METHODS

=head2 ping($payload), pong($payload)

Queue a ping or an unsolicited pong (at most 125 bytes of payload). Return
the object, or C<undef> with C<error> set.

=head2 send_utf8($text, %options), send_binary($bytes, %options)

Queue a message (options: C<compress>); see L<WebSocket::Connection>.

=head2 start_message($type, %options)

Opens a message in parts: a L<WebSocket::Message>, or C<undef> with
C<error> set.

=head2 buffered_amount, backpressure

Bytes waiting to be sent; whether a send reported backpressure and
C<on_drain> has not come yet.

=head2 _send_message($what, $kind, $bytes, $flags), _send_flags($what, %options)

Sends through C<ws_conn_send_ex>; the C<WS_SEND_*> flags of a send's
options (croaks on unknown ones).

=head2 _backpressure_over, _part_args($kind, $bytes, $flags, $total)

Ends the backpressure (on C<on_drain>); the arguments of C<on_part>.

=head2 _send_bytes($what, \&sender, $bytes)

Gives C<$bytes> to the C sender; refuses them when over C<max_send_size>
(when the object has one). Croaks on characters above 255.

=head2 id, stats

The connection's id and statistics (C<ws_conn_id>, C<ws_conn_get_stats>),
from the handle while there is one, else from C<_keep_stats>.

=head2 _keep_stats

Keeps the statistics before the handle is released, so C<id> and C<stats>
still answer afterwards.

=cut

package WebSocket::FFI;

# Internal: loads libwebsocket.so, attaches the C functions the Perl modules
# use, and turns the library's polled events into method calls on Perl
# objects. Not a public API.

use strict;
use warnings;
use Carp ();
use Cwd ();
use File::Basename ();
use File::Spec;
use FFI::Platypus 2.00;
use FFI::Platypus::Buffer qw( buffer_to_scalar scalar_to_buffer );
use Scalar::Util ();

our $VERSION = '0.01';

use constant {
    WS_MESSAGE_TEXT    => 1,
    WS_MESSAGE_BINARY  => 2,
    WS_STATE_CONNECTING => 0,
    WS_STATE_OPEN      => 1,
    WS_STATE_CLOSING   => 2,
    WS_STATE_CLOSED    => 3,
    WS_DISPATCH_POLL   => 1,
    WS_STATUS_OK       => 0,
    WS_ERR_INVALID_ARGUMENT => -2,
    WS_ERR_NOT_OPEN    => -8,
    WS_ERR_BAD_STATE   => -15,
    WS_STATUS_BACKPRESSURE => 2,
    WS_PART_FIRST        => 1,
    WS_PART_LAST         => 2,
    WS_SEND_COMPRESS     => 1,
    WS_SEND_NO_COMPRESS  => 2,
    WS_SEND_MORE         => 4,
    WS_SEND_CONTINUATION => 8,
    WS_RECONNECT_INITIAL_DELAY_MS => 500,
    WS_RECONNECT_MAX_DELAY_MS     => 30000,
    WS_SLOW_SKIP         => 0,
    WS_SLOW_CLOSE        => 1,
    MAX_TOPIC_LEN        => 1024,
};

# Where the library is, in order: $LIBWEBSOCKET_PATH, the build tree this
# module sits in, then the system loader's search path.
sub library_path {
    if ( defined( my $path = $ENV{LIBWEBSOCKET_PATH} ) ) {
        die "WebSocket: LIBWEBSOCKET_PATH is $path, which is not a file\n" unless -f $path;
        return $path;
    }
    my $here = File::Basename::dirname( Cwd::abs_path(__FILE__) );
    my $tree = File::Spec->catfile( $here, ( File::Spec->updir ) x 4,
        'target', 'release', 'libwebsocket.so' );
    return Cwd::abs_path($tree) if -f $tree;
    return 'libwebsocket.so';
}

our $LIBRARY = library_path();
our $ffi = FFI::Platypus->new( api => 2, lib => [$LIBRARY] );
{
    my @why;
    local $SIG{__WARN__} = sub { push @why, $_[0] =~ s/ at \S+ line \d+\.?\n?\z//r };
    unless ( $ffi->find_symbol('ws_version') ) {
        die "WebSocket: cannot load libwebsocket ($LIBRARY"
          . ( @why ? ": @why" : '' )
          . "): set LIBWEBSOCKET_PATH to the libwebsocket.so file, or run `make` in the source tree\n";
    }
}

my %functions = (
    ws_version                   => [ [] => 'string' ],
    ws_last_error_code           => [ [] => 'int' ],
    ws_last_error_message        => [ [] => 'string' ],
    ws_status_name               => [ ['int'] => 'string' ],
    ws_set_compression_threshold => [ ['uint64'] => 'int' ],
    ws_event_fd                  => [ [] => 'int' ],
    ws_dispatch                  => [ ['int'] => 'int' ],

    ws_client_connect => [ [ 'string', 'opaque', 'opaque', 'opaque' ] => 'opaque' ],
    ws_client_conn    => [ ['opaque'] => 'opaque' ],
    ws_client_free    => [ ['opaque'] => 'void' ],
    ws_client_close   => [ [ 'opaque', 'uint16', 'string' ] => 'int' ],
    ws_client_is_reconnecting => [ ['opaque'] => 'int' ],
    ws_client_config_set_reconnect => [ [ 'opaque', 'uint64', 'uint64', 'uint32' ] => 'int' ],

    ws_client_config_new                    => [ [] => 'opaque' ],
    ws_client_config_free                   => [ ['opaque'] => 'void' ],
    ws_client_config_set_dispatch           => [ [ 'opaque', 'int' ] => 'int' ],
    ws_client_config_set_origin             => [ [ 'opaque', 'string' ] => 'int' ],
    ws_client_config_add_subprotocol        => [ [ 'opaque', 'string' ] => 'int' ],
    ws_client_config_add_header             => [ [ 'opaque', 'string', 'string' ] => 'int' ],
    ws_client_config_set_connect_timeout_ms => [ [ 'opaque', 'uint64' ] => 'int' ],
    ws_client_config_set_handshake_timeout_ms => [ [ 'opaque', 'uint64' ] => 'int' ],
    ws_client_config_set_max_message_size   => [ [ 'opaque', 'uint64' ] => 'int' ],
    ws_client_config_set_deflate            => [ [ 'opaque', 'int' ] => 'int' ],
    ws_client_config_set_compression_threshold => [ [ 'opaque', 'uint64' ] => 'int' ],
    ws_client_config_add_tls_ca_file        => [ [ 'opaque', 'string' ] => 'int' ],
    ws_client_config_set_tls_client_cert_file => [ [ 'opaque', 'string', 'string' ] => 'int' ],
    ws_client_config_dangerous_disable_tls_verification => [ ['opaque'] => 'int' ],

    ws_conn_ping          => [ [ 'opaque', 'opaque', 'size_t' ] => 'int' ],
    ws_conn_pong          => [ [ 'opaque', 'opaque', 'size_t' ] => 'int' ],
    ws_conn_close         => [ [ 'opaque', 'uint16', 'string' ] => 'int' ],
    ws_conn_state         => [ ['opaque'] => 'int' ],
    ws_conn_subprotocol   => [ ['opaque'] => 'string' ],
    ws_conn_extensions    => [ ['opaque'] => 'string' ],
    ws_conn_is_secure     => [ ['opaque'] => 'int' ],
    ws_conn_close_code    => [ ['opaque'] => 'int' ],
    ws_conn_header        => [ [ 'opaque', 'string' ] => 'string' ],
    ws_conn_header_count  => [ ['opaque'] => 'int' ],
    ws_conn_header_at     => [ [ 'opaque', 'size_t', 'opaque*', 'opaque*' ] => 'int' ],
    ws_conn_peer_address  => [ ['opaque'] => 'string' ],
    ws_conn_path          => [ ['opaque'] => 'string' ],
    ws_conn_query         => [ ['opaque'] => 'string' ],
    ws_conn_buffered_amount => [ ['opaque'] => 'size_t' ],
    ws_conn_retain        => [ ['opaque'] => 'opaque' ],
    ws_conn_release       => [ ['opaque'] => 'void' ],
    ws_conn_get_user_data => [ ['opaque'] => 'opaque' ],

    ws_server_config_new                    => [ [] => 'opaque' ],
    ws_server_config_free                   => [ ['opaque'] => 'void' ],
    ws_server_config_set_dispatch           => [ [ 'opaque', 'int' ] => 'int' ],
    ws_server_config_set_max_message_size   => [ [ 'opaque', 'uint64' ] => 'int' ],
    ws_server_config_set_handshake_timeout_ms => [ [ 'opaque', 'uint64' ] => 'int' ],
    ws_server_config_set_max_connections    => [ [ 'opaque', 'uint64' ] => 'int' ],
    ws_server_config_set_max_handshakes     => [ [ 'opaque', 'uint64' ] => 'int' ],
    ws_server_config_set_keepalive_ms       => [ [ 'opaque', 'uint64' ] => 'int' ],
    ws_server_config_set_max_fragments      => [ [ 'opaque', 'uint64' ] => 'int' ],
    ws_server_config_set_deflate            => [ [ 'opaque', 'int' ] => 'int' ],
    ws_server_config_set_compression_threshold => [ [ 'opaque', 'uint64' ] => 'int' ],
    ws_server_config_add_subprotocol        => [ [ 'opaque', 'string' ] => 'int' ],
    ws_server_config_set_tls_cert_file      => [ [ 'opaque', 'string', 'string' ] => 'int' ],
    ws_server_config_add_tls_client_ca_file => [ [ 'opaque', 'string' ] => 'int' ],
    ws_server_config_set_tls_client_cert_optional => [ [ 'opaque', 'int' ] => 'int' ],
    ws_server_config_add_tls_sni_cert_file  => [ [ 'opaque', 'string', 'string', 'string' ] => 'int' ],

    ws_server_listen           => [ [ 'string', 'uint16', 'opaque', 'opaque', 'opaque' ] => 'opaque' ],
    ws_server_port             => [ ['opaque'] => 'uint16' ],
    ws_server_is_secure        => [ ['opaque'] => 'int' ],
    ws_server_reload_tls_cert_file     => [ [ 'opaque', 'string', 'string' ] => 'int' ],
    ws_server_reload_tls_sni_cert_file => [ [ 'opaque', 'string', 'string', 'string' ] => 'int' ],
    ws_server_connection_count => [ ['opaque'] => 'size_t' ],
    ws_server_stop             => [ ['opaque'] => 'int' ],
    ws_server_free             => [ ['opaque'] => 'void' ],

    ws_client_config_set_keepalive_ms  => [ [ 'opaque', 'uint64' ] => 'int' ],
    ws_client_config_set_max_fragments => [ [ 'opaque', 'uint64' ] => 'int' ],

    ws_handshake_path          => [ ['opaque'] => 'string' ],
    ws_handshake_query         => [ ['opaque'] => 'string' ],
    ws_handshake_peer_address  => [ ['opaque'] => 'string' ],
    ws_handshake_is_secure     => [ ['opaque'] => 'int' ],
    ws_handshake_header        => [ [ 'opaque', 'string' ] => 'string' ],
    ws_handshake_header_count  => [ ['opaque'] => 'int' ],
    ws_handshake_header_at     => [ [ 'opaque', 'size_t', 'opaque*', 'opaque*' ] => 'int' ],
    ws_handshake_subprotocol_at => [ [ 'opaque', 'size_t' ] => 'string' ],
    ws_handshake_add_header    => [ [ 'opaque', 'string', 'string' ] => 'int' ],
    ws_handshake_set_user_data => [ [ 'opaque', 'opaque' ] => 'int' ],
    ws_handshake_accept        => [ [ 'opaque', 'string' ] => 'int' ],
    ws_handshake_reject        => [ [ 'opaque', 'int', 'opaque', 'size_t' ] => 'int' ],

    # Flow control, options of a send, messages in parts.
    ws_conn_send_ex                        => [ [ 'opaque', 'int', 'opaque', 'size_t', 'int' ] => 'int' ],
    ws_server_config_set_send_watermarks   => [ [ 'opaque', 'uint64', 'uint64' ] => 'int' ],
    ws_client_config_set_send_watermarks   => [ [ 'opaque', 'uint64', 'uint64' ] => 'int' ],
    ws_server_config_set_receive_parts     => [ [ 'opaque', 'int' ] => 'int' ],
    ws_client_config_set_receive_parts     => [ [ 'opaque', 'int' ] => 'int' ],

    # Topics (publish and subscribe).
    ws_conn_subscribe                    => [ [ 'opaque', 'string' ] => 'int' ],
    ws_conn_unsubscribe                  => [ [ 'opaque', 'string' ] => 'int' ],
    ws_conn_is_subscribed                => [ [ 'opaque', 'string' ] => 'int' ],
    ws_server_publish                    => [ [ 'opaque', 'string', 'int', 'opaque', 'size_t' ] => 'int' ],
    ws_server_subscriber_count           => [ [ 'opaque', 'string' ] => 'size_t' ],
    ws_server_config_set_slow_subscriber => [ [ 'opaque', 'int' ] => 'int' ],

    # Pongs by the application, adopted listeners, aborts, the handshake text,
    # a connection's own message size limit.
    ws_server_config_set_auto_pong           => [ [ 'opaque', 'int' ] => 'int' ],
    ws_client_config_set_auto_pong           => [ [ 'opaque', 'int' ] => 'int' ],
    ws_conn_set_auto_pong                    => [ [ 'opaque', 'int' ] => 'int' ],
    ws_server_listen_fd                      => [ [ 'int', 'opaque', 'opaque', 'opaque' ] => 'opaque' ],
    ws_conn_abort                            => [ ['opaque'] => 'int' ],
    ws_server_config_set_keep_handshake_text => [ [ 'opaque', 'int' ] => 'int' ],
    ws_client_config_set_keep_handshake_text => [ [ 'opaque', 'int' ] => 'int' ],
    ws_conn_request_text                     => [ ['opaque'] => 'string' ],
    ws_conn_response_text                    => [ ['opaque'] => 'string' ],
    ws_conn_set_max_message_size             => [ [ 'opaque', 'uint64' ] => 'int' ],
);
$ffi->attach( $_ => @{ $functions{$_} } ) for sort keys %functions;

# --- Events -------------------------------------------------------------
#
# Every endpoint is created in WS_DISPATCH_POLL mode, so the library only
# queues events; the callbacks below run inside ws_dispatch(), on the Perl
# thread that calls it. One set of closures serves every endpoint: the
# user_data pointer is a small integer naming the Perl object in %OWNERS
# (held weakly, so an object that goes away is simply no longer called).

my %OWNERS;
my $next_id = 0;
our @pending_errors;    # exceptions thrown by Perl callbacks, rethrown after ws_dispatch
our $DEPTH = 0;        # how many dispatch calls are running (callbacks run at depth > 0)

# The binding serves the thread (interpreter) that loaded it: the callback
# record points at this interpreter's closures, and the event queue belongs
# to the whole process.
my $THREAD = _thread_id();
sub _thread_id { $INC{'threads.pm'} ? threads->tid : 0 }

sub check_thread {
    return if _thread_id() == $THREAD;
    Carp::croak('WebSocket: use the binding only from the thread that loaded it');
}

sub register {
    my ($obj) = @_;
    check_thread();
    my $id = ++$next_id;
    $OWNERS{$id} = $obj;
    Scalar::Util::weaken( $OWNERS{$id} );
    return $id;
}

sub unregister { delete $OWNERS{ $_[0] } }

sub _deliver {
    my ( $id, $method, @args ) = @_;
    my $obj = defined $id ? $OWNERS{$id} : undef;
    return unless $obj;
    # An exception must not unwind through the C frames of ws_dispatch:
    # keep it and rethrow it once ws_dispatch has returned.
    eval { $obj->$method(@args); 1 } or push @pending_errors, $@;
    return;
}

my @closures = (
    [ '(opaque,opaque)->void' => sub { _deliver( $_[0], '_ws_open', $_[1] ) } ],
    [
        '(opaque,opaque,int,opaque,size_t)->void' => sub {
            my ( $id, $conn, $type, $data, $len ) = @_;
            _deliver( $id, '_ws_message', $conn, $type, _bytes( $data, $len ) );
        }
    ],
    [ '(opaque,opaque,opaque,size_t)->void' => sub { _deliver( $_[0], '_ws_ping', $_[1], _bytes( @_[ 2, 3 ] ) ) } ],
    [ '(opaque,opaque,opaque,size_t)->void' => sub { _deliver( $_[0], '_ws_pong', $_[1], _bytes( @_[ 2, 3 ] ) ) } ],
    [ '(opaque,opaque,uint16,string)->void' => sub { _deliver( $_[0], '_ws_close', $_[1], $_[2], $_[3] // '' ) } ],
    [ '(opaque,opaque,int,string)->void' => sub { _deliver( $_[0], '_ws_error', $_[1], $_[2], $_[3] // '' ) } ],
    [ '(opaque,opaque)->void' => sub { _deliver( $_[0], '_ws_handshake', $_[1] ) } ],
    [ '(opaque,opaque)->void' => sub { _deliver( $_[0], '_ws_drain', $_[1] ) } ],
    [
        '(opaque,opaque,int,opaque,size_t,int,uint64)->void' => sub {
            my ( $id, $conn, $type, $data, $len, $flags, $total ) = @_;
            _deliver( $id, '_ws_message_part', $conn, $type, _bytes( $data, $len ), $flags, $total );
        }
    ],
    # on_reconnect: the attempt goes ahead unless the client was disconnected
    # (ws_client_close) meanwhile.
    [ '(opaque,opaque,uint32,uint64)->int' => sub { _deliver( $_[0], '_ws_reconnect', @_[ 1 .. 3 ] ); return 0 } ],
    [ '(opaque,opaque,uint32)->void' => sub { _deliver( $_[0], '_ws_reconnected', @_[ 1, 2 ] ) } ],
);

sub _bytes {
    my ( $ptr, $len ) = @_;
    return '' unless $len;
    return buffer_to_scalar( $ptr, $len );
}

# The closures live as long as the program (they are shared by every
# endpoint), and so does the ws_callbacks record built from them:
# on_open, on_message, on_ping, on_pong, on_close, on_error, on_handshake
# (which only servers call), on_drain, on_message_part (only with
# receive_parts), on_reconnect and on_reconnected (only reconnecting
# clients).
#
# They are held by an object of a class that threads do not copy: a new Perl
# thread's copy of a closure would free the C trampoline, shared with this
# interpreter, when the thread ends.
our $CLOSURES = bless [ map { $ffi->closure( $_->[1] ) } @closures ], 'WebSocket::FFI::Closures';
sub WebSocket::FFI::Closures::CLONE_SKIP { 1 }
my @pointers = map { $ffi->cast( $closures[$_][0] => 'opaque', $CLOSURES->[$_] ) } 0 .. $#closures;
# The record starts with its size (sizeof(ws_callbacks)), then one pointer per callback.
our $CALLBACKS_RECORD = pack( 'J*', ( 1 + @pointers ) * length( pack 'J', 0 ), @pointers );
our $CALLBACKS = ( scalar_to_buffer($CALLBACKS_RECORD) )[0];

# Runs queued callbacks (all of them when $max <= 0). Returns how many events
# were taken, or a negative status. Rethrows the first exception a callback threw.
sub dispatch {
    my ($max) = @_;
    # Each level keeps its own exceptions: a dispatch nested in a callback
    # (poll called from a callback) rethrows only those of its own callbacks.
    check_thread();
    local @pending_errors;
    local $DEPTH = $DEPTH + 1;
    my $n = ws_dispatch( $max // 0 );
    if (@pending_errors) {
        my ( $err, @more ) = @pending_errors;
        warn "WebSocket: another callback also died: $_" for @more;
        die $err;
    }
    return $n;
}

# True inside a callback: the methods that wait for the library (connect,
# disconnect, shutdown) then do not wait, so callbacks never run nested.
sub in_callback { $DEPTH > 0 }

# Runs a callback the binding calls itself (on_tick, on_shutdown, on_send),
# counted as one for in_callback.
sub as_callback {
    my ($code) = @_;
    local $DEPTH = $DEPTH + 1;
    return $code->();
}

# Waits up to $timeout seconds (undef: no limit) for the event fd to become
# readable, then dispatches. Returns the number of events dispatched.
sub wait_and_dispatch {
    my ($timeout) = @_;
    my $fd = ws_event_fd();
    my $rin = '';
    vec( $rin, $fd, 1 ) = 1;
    my $n = select( my $rout = $rin, undef, undef, $timeout );
    return 0 if $n < 0 && $!{EINTR};
    return dispatch(0);
}

# A Perl string as a (pointer, length) pair that stays valid while $_[0] does.
sub buffer { return scalar_to_buffer( $_[0] ) }

# Text as UTF-8 bytes, and back. Perl's own conversions, not Encode's
# 'UTF-8' (which replaces noncharacters such as U+FFFE with U+FFFD): text
# must round-trip exactly. Surrogates and code points above U+10FFFF become
# bytes the library refuses as invalid UTF-8; received text was already
# validated by the library.
sub text_to_utf8 {
    my $bytes = defined $_[0] ? "$_[0]" : '';
    utf8::encode($bytes);
    return $bytes;
}

sub utf8_to_text {
    my $text = defined $_[0] ? "$_[0]" : '';
    utf8::decode($text);
    return $text;
}

# Why a close code and reason cannot be sent (undef when they can). The C
# call takes the code as 16 bits and the reason as a C string: check here
# what those would silently change; the library checks the rest.
sub bad_close {
    my ( $code, $reason ) = @_;
    return "close code '$code' is not a number from 1000 to 4999"
      unless $code =~ /\A[0-9]+\z/ && $code >= 1000 && $code <= 4999;
    return 'the close reason contains a NUL character' if index( $reason, "\0" ) >= 0;
    return;
}

# Why $topic cannot name a topic (undef when it can). The C calls take the
# name's UTF-8 encoding as a C string of 1 to MAX_TOPIC_LEN bytes: check here
# what the C string would silently change (undef, a NUL), and the length.
sub bad_topic {
    my ($topic) = @_;
    return 'no topic name (undef)' unless defined $topic;
    my $bytes = text_to_utf8($topic);
    return 'the topic name contains a NUL character' if index( $bytes, "\0" ) >= 0;
    return 'a topic name has 1 to ' . MAX_TOPIC_LEN . ' bytes (this one has ' . length($bytes) . ')'
      unless length $bytes && length $bytes <= MAX_TOPIC_LEN;
    return;
}

# The headers of a connection or handshake as a list of [name, value] pairs,
# through its *_header_count and *_header_at functions.
sub header_pairs {
    my ( $handle, $count, $at ) = @_;
    my $n = $count->($handle);
    my @pairs;
    for my $i ( 0 .. $n - 1 ) {
        my ( $name, $value );
        next if $at->( $handle, $i, \$name, \$value ) < 0;
        push @pairs, [ map { defined $_ ? $ffi->cast( opaque => string => $_ ) : '' } $name, $value ];
    }
    return @pairs;
}

sub last_error {
    return ( ws_last_error_code(), ws_last_error_message() // 'unknown error' );
}

# --- Statistics and the log ---------------------------------------------

$ffi->attach( $_->[0] => @$_[ 1, 2 ] ) for (
    [ ws_conn_id          => ['opaque'] => 'uint64' ],
    [ ws_conn_get_stats   => [ 'opaque', 'opaque' ] => 'int' ],
    [ ws_server_get_stats => [ 'opaque', 'opaque' ] => 'int' ],
    [ ws_set_log_callback => [ 'opaque', 'opaque', 'int' ] => 'int' ],
    [ ws_set_log_dispatch => ['int'] => 'int' ],
);

# The fields of ws_conn_stats and ws_server_stats after their size, in order.
our @CONN_STATS = qw( id messages_in bytes_in messages_out bytes_out send_queue_high_water );
our @SERVER_STATS = qw(
  connections_open connections_accepted refused_full refused_bad_handshake
  refused_rejected refused_timeout refused_tls
  messages_in bytes_in messages_out bytes_out send_queue_high_water
);

# Fills a stats struct of the given fields through $get (ws_conn_get_stats
# ...) and returns it as a hash reference; undef on failure (last_error says
# why). The struct starts with its size, so a library with more fields
# writes only these.
sub get_stats {
    my ( $get, $handle, @fields ) = @_;
    my $size = 8 * ( 1 + @fields );
    my $record = pack( 'Q<', $size ) . ( "\0" x ( $size - 8 ) );
    return undef if $get->( $handle, ( scalar_to_buffer($record) )[0] ) < 0;
    my ( undef, @values ) = unpack( 'Q<*', $record );
    my %stats;
    @stats{@fields} = @values;
    return \%stats;
}

# The C log callback: a log line becomes a call of _ws_log on the object
# registered under its user_data, inside ws_dispatch (the log is polled).
# Made on first use and kept for the life of the program, like $CLOSURES.
my ( $LOG_CLOSURE, $log_pointer );

sub log_callback_pointer {
    return $log_pointer if $log_pointer;
    $LOG_CLOSURE = bless [ $ffi->closure( sub { _deliver( $_[0], '_ws_log', @_[ 1 .. 3 ] ) } ) ],
      'WebSocket::FFI::Closures';
    return $log_pointer = $ffi->cast( '(opaque,int,uint64,string)->void' => 'opaque', $LOG_CLOSURE->[0] );
}

1;

__END__

=head1 NAME

WebSocket::FFI - internal: the FFI::Platypus glue of the WebSocket modules

=head1 SYNOPSIS

    use WebSocket::FFI;
    print WebSocket::FFI::ws_version(), " from $WebSocket::FFI::LIBRARY\n";

=head1 DESCRIPTION

Not a public API: L<WebSocket::Client> and its siblings use it. It loads
libwebsocket (from C<$ENV{LIBWEBSOCKET_PATH}>, else the build tree at
C<target/release/libwebsocket.so> four directories above this file, else the
name C<libwebsocket.so> through the system loader; it dies saying what to do
when none loads), attaches the C functions the modules call under their C
names (C<WebSocket::FFI::ws_conn_send_ex> ...), and builds one
C<ws_callbacks> record whose function pointers are L<FFI::Platypus> closures
kept for the life of the program.

Every endpoint is created in C<WS_DISPATCH_POLL> mode, so the library's
thread never calls Perl: its events wait in a queue until C<dispatch> runs
them on the Perl thread. The C<user_data> of an endpoint is a number given
by C<register>; each event becomes a method call (C<_ws_open>,
C<_ws_message>, C<_ws_ping>, C<_ws_pong>, C<_ws_close>, C<_ws_error>,
C<_ws_drain>, and C<_ws_message_part> with the piece's flags and running
total when receiving in parts) on the object registered under it, which is
held weakly; servers also get C<_ws_handshake> for each upgrade request,
reconnecting clients C<_ws_reconnect> (attempt, delay in ms) and
C<_ws_reconnected> (attempt).

=head1 FUNCTIONS

=head2 register($object), unregister($id)

Gives an object an id to pass as C<user_data>; forgets it.

=head2 dispatch($max)

Runs up to C<$max> queued events (all when 0) and returns how many. An
exception thrown by a Perl callback is held while C frames are on the stack
and rethrown here (when several callbacks died, the others are warned about).

=head2 check_thread

Croaks unless called from the thread that loaded the binding.

=head2 in_callback

True while a callback runs (inside C<dispatch>, or C<as_callback>).

=head2 as_callback($code)

Runs C<$code> as a callback (for those the binding calls itself).

=head2 wait_and_dispatch($timeout)

Waits up to C<$timeout> seconds (C<undef>: no limit) for C<ws_event_fd> to be
readable, then dispatches.

=head2 buffer($scalar)

The (pointer, length) of a byte string, valid while the scalar is unchanged.

=head2 text_to_utf8($text), utf8_to_text($bytes)

A character string as UTF-8 bytes, and back, exactly (noncharacters such as
U+FFFE included).

=head2 bad_close($code, $reason)

Why C<$code> and C<$reason> cannot be sent in a close frame, or C<undef>.

=head2 bad_topic($topic)

Why C<$topic> cannot name a topic (C<undef>, a NUL character, not 1 to
1024 bytes of UTF-8), or C<undef> when it can.

=head2 header_pairs($handle, \&count, \&at)

The headers of a connection or handshake handle as C<[name, value]> pairs.

=head2 last_error

The calling thread's last (status, message) of the library.

=head2 get_stats(\&get, $handle, @fields)

Calls C<ws_conn_get_stats> or C<ws_server_get_stats> (C<\&get>) with a
struct of C<@fields> (C<@CONN_STATS>, C<@SERVER_STATS>: the fields after
C<size>, in order) and returns them as a hash reference, or C<undef> on
failure.

=head2 log_callback_pointer

The C function pointer of the log callback: it delivers each line as
C<_ws_log($level, $conn_id, $text)> to the object registered under the
C<user_data> (see L<WebSocket::Log>).

=head2 library_path

Where the library is looked for, as described above.

=cut

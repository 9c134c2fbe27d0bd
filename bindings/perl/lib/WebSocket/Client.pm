package WebSocket::Client;

use strict;
use warnings;
use Carp ();
use Time::HiRes ();
use WebSocket qw( :ws );
use WebSocket::Exception;
use WebSocket::FFI;
use parent 'WebSocket::Endpoint';

our $VERSION = '0.01';

my @EVENTS = qw( on_connect on_handshake on_recv on_utf8 on_binary on_ping on_pong on_send on_disconnect on_error on_drain on_part
  on_reconnect on_reconnected );

my %OPTIONS = map { $_ => 1 } @EVENTS, qw(
  uri origin subprotocol cookie version timeout max_payload_size max_fragments_amount
  extensions compression_threshold ssl_ca_file ssl_no_verify ssl_cert_file ssl_key_file
  silence_max fatal headers blocking send_watermarks receive_parts reconnect debug do_pong
);

# The reconnect option's keys, and their defaults in seconds (the C API's).
my %RECONNECT = (
    delay     => WebSocket::FFI::WS_RECONNECT_INITIAL_DELAY_MS / 1000,
    max_delay => WebSocket::FFI::WS_RECONNECT_MAX_DELAY_MS / 1000,
    max_tries => 0,
);

sub new {
    my ( $class, @args ) = @_;
    # new($uri, %options), new($uri, \%options), new(%options), new(\%options)
    my @uri = ( @args % 2 && !ref $args[0] ) || ( @args == 2 && ref $args[1] eq 'HASH' ) ? ( uri => shift @args ) : ();
    my %opts = ( $class->_options(@args), @uri );
    for my $key ( sort keys %opts ) {
        Carp::croak("WebSocket::Client->new: unknown option '$key'") unless $OPTIONS{$key};
    }
    Carp::croak('WebSocket::Client->new: do_pong is not a code reference') if defined $opts{do_pong} && ref $opts{do_pong} ne 'CODE';
    my $self = bless { %opts, state => 'new' }, $class;
    WebSocket::Object::_debug_log( $opts{debug} );
    return $self;
}

# on_connect, on_recv, ...: get the callback, or set it and return the client.
__PACKAGE__->_callbacks(@EVENTS);

sub uri   { $_[0]{uri} }

__PACKAGE__->_accessors(qw( cookie origin timeout ));

sub disconnected { ( $_[0]{state} // '' ) eq 'closed' ? 1 : 0 }

sub disconnecting { ( $_[0]{state} // '' ) eq 'closing' ? 1 : 0 }

# Whether connect and disconnect wait for their outcome: not inside a
# callback (that would run other callbacks nested in it), nor with
# blocking => 0 (under an event loop of your own).
sub _waits { ( $_[0]{blocking} // 1 ) && !WebSocket::FFI::in_callback() }


sub _config {
    my ($self) = @_;
    return $self->_new_config( \&WebSocket::FFI::ws_client_config_new, \&WebSocket::FFI::ws_client_config_free );
}

sub _configure {
    my ( $self, $cfg ) = @_;
    my $check = \&WebSocket::Object::_check;
    $check->( dispatch => WebSocket::FFI::ws_client_config_set_dispatch( $cfg, WebSocket::FFI::WS_DISPATCH_POLL ) );
    $check->( handshake => WebSocket::FFI::ws_client_config_set_keep_handshake_text( $cfg, 1 ) );
    if ( defined $self->{origin} ) {
        $check->( origin => WebSocket::FFI::ws_client_config_set_origin( $cfg, $self->{origin} ) );
    }
    if ( defined( my $sp = $self->{subprotocol} ) ) {
        for my $name ( ref $sp eq 'ARRAY' ? @$sp : $sp ) {
            $check->( subprotocol => WebSocket::FFI::ws_client_config_add_subprotocol( $cfg, $name ) );
        }
    }
    if ( defined( my $cookie = $self->{cookie} ) ) {
        $cookie = join '; ', map { "$_=$cookie->{$_}" } sort keys %$cookie if ref $cookie eq 'HASH';
        $check->( cookie => WebSocket::FFI::ws_client_config_add_header( $cfg, Cookie => $cookie ) );
    }
    if ( my $headers = $self->{headers} ) {
        my @pairs = ref $headers eq 'HASH' ? map { ( $_, $headers->{$_} ) } sort keys %$headers : @$headers;
        while ( my ( $name, $value ) = splice @pairs, 0, 2 ) {
            $check->( "header $name" => WebSocket::FFI::ws_client_config_add_header( $cfg, $name, $value ) );
        }
    }
    if ( defined $self->{timeout} ) {
        my $ms = WebSocket::Object::_ms( $self->{timeout} );
        $check->( timeout => WebSocket::FFI::ws_client_config_set_connect_timeout_ms( $cfg, $ms ) );
        $check->( timeout => WebSocket::FFI::ws_client_config_set_handshake_timeout_ms( $cfg, $ms ) );
    }
    if ( defined $self->{max_payload_size} ) {
        $check->( max_payload_size => WebSocket::FFI::ws_client_config_set_max_message_size( $cfg, $self->{max_payload_size} ) );
    }
    if ( defined $self->{max_fragments_amount} ) {
        $check->( max_fragments_amount => WebSocket::FFI::ws_client_config_set_max_fragments( $cfg, $self->{max_fragments_amount} ) );
    }
    if ( $self->{silence_max} ) {
        $check->( silence_max => WebSocket::FFI::ws_client_config_set_keepalive_ms( $cfg, WebSocket::Object::_ms( $self->{silence_max} ) ) );
    }
    if ( WebSocket::Object::_wants_deflate( $self->{extensions} ) ) {
        $check->( extensions => WebSocket::FFI::ws_client_config_set_deflate( $cfg, 1 ) );
    }
    if ( defined $self->{compression_threshold} ) {
        $check->( compression_threshold => WebSocket::FFI::ws_client_config_set_compression_threshold( $cfg, $self->{compression_threshold} ) );
    }
    if ( defined $self->{ssl_ca_file} ) {
        $check->( ssl_ca_file => WebSocket::FFI::ws_client_config_add_tls_ca_file( $cfg, $self->{ssl_ca_file} ) );
    }
    if ( defined $self->{ssl_cert_file} || defined $self->{ssl_key_file} ) {
        $check->( ssl_cert_file => WebSocket::FFI::ws_client_config_set_tls_client_cert_file( $cfg, $self->{ssl_cert_file}, $self->{ssl_key_file} ) );
    }
    if ( $self->{ssl_no_verify} ) {
        $check->( ssl_no_verify => WebSocket::FFI::ws_client_config_dangerous_disable_tls_verification($cfg) );
    }
    if ( defined $self->{send_watermarks} ) {
        $check->( send_watermarks => WebSocket::FFI::ws_client_config_set_send_watermarks( $cfg,
            WebSocket::Object::_watermarks( $self->{send_watermarks} ) ) );
    }
    if ( $self->{receive_parts} ) {
        $check->( receive_parts => WebSocket::FFI::ws_client_config_set_receive_parts( $cfg, 1 ) );
    }
    if ( my $r = $self->_reconnect ) {
        $check->( reconnect => WebSocket::FFI::ws_client_config_set_reconnect( $cfg,
            WebSocket::Object::_ms( $r->{delay} ), WebSocket::Object::_ms( $r->{max_delay} ), $r->{max_tries} ) );
    }
    return;
}

# The reconnect option with its defaults filled in, or undef when off.
sub _reconnect {
    my ($self) = @_;
    my $r = $self->{reconnect} or return;
    $r = {} unless ref $r;
    die WebSocket::Exception->new( code => -2, message => 'reconnect: a true value or a hash reference' )
      unless ref $r eq 'HASH';
    for my $key ( sort keys %$r ) {
        die WebSocket::Exception->new( code => -2, message => "reconnect: unknown key '$key'" ) unless exists $RECONNECT{$key};
    }
    my %r = ( %RECONNECT, %$r );
    for my $key ( sort keys %r ) {
        die WebSocket::Exception->new( code => -2, message => "reconnect: $key must be a number 0 or more" )
          unless defined $r{$key} && $r{$key} =~ /\A[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?\z/;
    }
    die WebSocket::Exception->new( code => -2, message => 'reconnect: max_tries must be a whole number below 2**32' )
      unless $r{max_tries} =~ /\A[0-9]+\z/ && $r{max_tries} < 2**32;
    return \%r;
}

sub connect {
    my ($self) = @_;
    WebSocket::FFI::check_thread();
    return $self->_fail( -15, 'connect: already connected or connecting' )
      if $self->{client} && $self->{state} ne 'closed';
    $self->_release;    # the previous connection, when reconnecting
    my $uri = $self->{uri};
    return $self->_fail( -3, 'connect: no uri given' ) unless defined $uri && length $uri;
    if ( my $why = WebSocket::Object::_bad_version( $self->{version} ) ) {
        return $self->_fail( -2, "connect: $why" );
    }
    my $cfg = $self->_config or return;
    $self->{id}    = WebSocket::FFI::register($self);
    $self->{state} = 'connecting';
    delete @$self{qw( error opened backpressure )};
    my $client = WebSocket::FFI::ws_client_connect( "$uri", $cfg, $WebSocket::FFI::CALLBACKS, $self->{id} );
    my @why = $client ? () : WebSocket::FFI::last_error();
    WebSocket::FFI::ws_client_config_free($cfg);
    unless ($client) {
        WebSocket::FFI::unregister( delete $self->{id} );
        $self->{state} = 'closed';
        return $self->_fail( $why[0], "connect $uri: $why[1]" );
    }
    $self->{client} = $client;
    $self->{conn}   = WebSocket::FFI::ws_client_conn($client);
    return $self unless $self->_waits;
    WebSocket::FFI::wait_and_dispatch(1) while $self->{state} eq 'connecting' || $self->{state} eq 'reconnecting';
    # One dispatch may run the opening and what followed it (messages whose
    # callbacks disconnect, the close): the connect succeeded if it opened.
    return $self if $self->{opened};
    my $e = $self->{error} || WebSocket::Exception->new(
        code    => $self->{close_code} // WS_CLOSED_ABNORMALLY,
        message => "connect $uri: closed before it opened",
    );
    return $self->_fail( $e->code, $e->message );
}

sub start {
    my ($self) = @_;
    WebSocket::FFI::wait_and_dispatch(undef) while $self->{state} =~ /\A(?:open|closing|connecting|reconnecting)\z/;
    return $self;
}

sub poll {
    my ($self) = @_;
    my $n = WebSocket::FFI::dispatch(0);
    return $self->_fail_last('poll') if $n < 0;
    return $n;
}
sub event_fd { WebSocket::FFI::ws_event_fd() }

sub connected { ( $_[0]{state} // '' ) eq 'open' && WebSocket::FFI::ws_conn_state( $_[0]{conn} ) == WebSocket::FFI::WS_STATE_OPEN ? 1 : 0 }

sub reconnecting { ( $_[0]{state} // '' ) eq 'reconnecting' ? 1 : 0 }

sub subprotocol {
    my ($self) = @_;
    return undef unless $self->{conn};
    my $p = WebSocket::FFI::ws_conn_subprotocol( $self->{conn} );
    return defined $p && length $p ? $p : undef;
}

sub extensions {
    my ($self) = @_;
    return undef unless $self->{conn};
    return WebSocket::FFI::ws_conn_extensions( $self->{conn} );
}

sub is_secure { $_[0]{conn} ? WebSocket::FFI::ws_conn_is_secure( $_[0]{conn} ) > 0 : 0 }

sub header {
    my ( $self, $name ) = @_;
    return undef unless $self->{conn} && defined $name;
    return WebSocket::FFI::ws_conn_header( $self->{conn}, $name );
}

sub headers {
    my ($self) = @_;
    return unless $self->{conn};
    return WebSocket::FFI::header_pairs( $self->{conn}, \&WebSocket::FFI::ws_conn_header_count,
        \&WebSocket::FFI::ws_conn_header_at );
}

sub send_utf8 {
    my ( $self, $text, @opts ) = @_;
    $text = '' unless defined $text;
    $self->SUPER::send_utf8( $text, @opts ) or return;
    WebSocket::FFI::as_callback( sub { $self->_call( on_send => $text, 'text' ) } );
    return $self;
}

sub send_binary {
    my ( $self, $bytes, @opts ) = @_;
    $bytes = '' unless defined $bytes;
    $self->SUPER::send_binary( $bytes, @opts ) or return;
    WebSocket::FFI::as_callback( sub { $self->_call( on_send => $bytes, 'binary' ) } );
    return $self;
}

sub disconnect {
    my ( $self, $code, $reason ) = @_;
    $code   = WS_OK unless defined $code;
    $reason = ''    unless defined $reason;
    my $client = $self->{client};
    return $self->_fail( -8, 'disconnect: not connected' ) unless $client;
    my $bad = WebSocket::FFI::bad_close( $code, $reason );
    return $self->_fail( -2, "disconnect: $bad" ) if $bad;
    # Also stops reconnecting; between two connections, nothing is left to close.
    my $rc = WebSocket::FFI::ws_client_close( $client, $code, WebSocket::FFI::text_to_utf8($reason) );
    return $self->_fail_last('disconnect') if $rc < 0;
    my $conn = WebSocket::FFI::ws_client_conn($client);
    if ( $self->{state} eq 'reconnecting'
        && WebSocket::FFI::ws_conn_state($conn) == WebSocket::FFI::WS_STATE_CLOSED )
    {
        $self->{state} = 'closed';    # no attempt was under way: no on_close will come
    }
    elsif ( $self->{state} =~ /\A(?:open|connecting|reconnecting)\z/ ) {
        $self->{state} = 'closing';
    }
    return $self unless $self->_waits;
    WebSocket::FFI::wait_and_dispatch(1) while $self->{state} eq 'closing';
    return $self;
}

# --- Events from WebSocket::FFI (run inside ws_dispatch) ------------------

sub _call {
    my ( $self, $event, @args ) = @_;
    my $cb = $self->{$event} or return;
    $cb->( $self, @args );
}

sub _ws_open {
    my ( $self, $conn ) = @_;
    $self->{conn}      = $conn;    # a new one after a reconnect
    $self->{state}     = 'open';
    $self->{opened}    = 1;
    $self->{handshake} = $self->_handshake_of($conn);
    $self->_sync_auto_pong;
    my $verdict = $self->_call( on_handshake => $self->{handshake} );
    if ( defined $verdict && !$verdict ) {
        $self->{error} = WebSocket::Exception->new( code => WS_NOT_ACCEPTABLE, message => 'Handshake rejected (by on_handshake)' );
        WebSocket::FFI::ws_conn_close( $conn, WS_NOT_ACCEPTABLE, 'Handshake rejected' );
        return;
    }
    $self->_call('on_connect');
}

# The opening handshake of connection $conn as a WebSocket::Handshake::Client:
# the request sent and the response received, as they went over the wire.
sub _handshake_of {
    my ( $self, $conn ) = @_;
    require WebSocket::Handshake::Client;
    require WebSocket::Request;
    require WebSocket::Response;
    my $hs = WebSocket::Handshake::Client->new( uri => $self->{uri} );
    my $request  = WebSocket::Request->new;
    my $response = WebSocket::Response->new;
    $hs->request($request)   if $request->parse( WebSocket::FFI::ws_conn_request_text($conn) // '' );
    $hs->response($response) if $response->parse( WebSocket::FFI::ws_conn_response_text($conn) // '' );
    return $hs;
}

sub handshake { $_[0]{handshake} }

sub _ws_message {
    my ( $self, $conn, $type, $bytes ) = @_;
    if ( $type == WebSocket::FFI::WS_MESSAGE_TEXT ) {
        $self->_call( on_recv => $bytes, 'text' );
        $self->_call( on_utf8 => WebSocket::FFI::utf8_to_text($bytes) ) if $self->{on_utf8};
    }
    else {
        $self->_call( on_recv => $bytes, 'binary' );
        $self->_call( on_binary => $bytes );
    }
}

sub _ws_drain {
    my ($self) = @_;
    $self->_backpressure_over;
    $self->_call('on_drain');
}

sub _ws_message_part {
    my ( $self, $conn, @piece ) = @_;
    $self->_call( on_part => WebSocket::Endpoint::_part_args(@piece) );
}

sub _ws_ping { my ( $self, $conn, $data ) = @_; $self->_pinged( $self->_call( on_ping => $data ), $data ) }
sub _ws_pong { my ( $self, $conn, $data ) = @_; $self->_call( on_pong => $data ) }

sub _ws_error {
    my ( $self, $conn, $status, $message ) = @_;
    # A failure before the connection opened is its end (on_error is the
    # outcome of a non-blocking connect; connect may be called again in it),
    # unless another attempt follows (then on_close says so).
    $self->{state} = 'closed' if $self->{state} eq 'connecting' && !$self->{reconnect};
    $self->{error} = WebSocket::Exception->new( code => $status, message => $message );
    $self->_call( on_error => $self->{error} );
}

sub _ws_close {
    my ( $self, $conn, $code, $reason ) = @_;
    my $was   = $self->{state};
    my $again = WebSocket::FFI::ws_client_is_reconnecting( $self->{client} ) == 1;
    $self->{state}        = $again ? 'reconnecting' : 'closed';
    $self->{close_code}   = $code;
    $self->{close_reason} = WebSocket::FFI::utf8_to_text($reason);
    if ($again) {
        # The library replaces this connection once on_reconnect has run:
        # keep what it carried, and send nothing until the next one opens.
        $self->_keep_stats;
        delete $self->{conn};
    }
    else {
        $self->{conn} = WebSocket::FFI::ws_client_conn( $self->{client} );
    }
    $self->_call( on_disconnect => $code, $self->{close_reason} ) if $was eq 'open' || $was eq 'closing';
}

sub _ws_reconnect {
    my ( $self, $conn, $attempt, $delay_ms ) = @_;
    $self->_call( on_reconnect => $attempt, $delay_ms / 1000 );
}

sub _ws_reconnected {
    my ( $self, $conn, $attempt ) = @_;
    $self->_call( on_reconnected => $attempt );
}

sub close_code   { $_[0]{close_code} }
sub close_reason { $_[0]{close_reason} }

# Frees the connection (closing it with 1001 if still open).
sub _release {
    my ($self) = @_;
    WebSocket::FFI::unregister( delete $self->{id} ) if defined $self->{id};
    if ( my $client = delete $self->{client} ) {
        delete $self->{conn};
        WebSocket::FFI::ws_client_free($client);
    }
}

sub DESTROY { $_[0]->_release }

1;

__END__

=encoding utf8

=head1 NAME

WebSocket::Client - WebSocket client (ws:// and wss://) over libwebsocket

=head1 SYNOPSIS

    use utf8;
    use WebSocket qw( :ws );
    use WebSocket::Client;
    binmode STDOUT, ':encoding(UTF-8)';

    # build/echo_server listens on 127.0.0.1:9001 by default
    my $client = WebSocket::Client->new( 'ws://127.0.0.1:9001/',
        timeout => 5,
        on_utf8 => sub {
            my ( $c, $text ) = @_;
            print "received: $text\n";
            $c->disconnect(WS_OK);
        },
        on_disconnect => sub {
            my ( $c, $code, $reason ) = @_;
            print "closed with $code\n";
        },
    );
    $client->connect or die "cannot connect: ", $client->error, "\n";
    $client->send_utf8("héllo ☃");
    $client->start;    # returns once the connection is closed

=head1 DESCRIPTION

A WebSocket client (RFC 6455, with permessage-deflate and TLS) whose
protocol work is done by libwebsocket on its own I/O thread. Your callbacks
never run on that thread: the library queues events, and they run on your
thread inside C<connect>, C<start>, C<disconnect> and C<poll>. To combine the
client with an event loop of your own, watch C<event_fd> for readability and
call C<poll> when it is readable.

Errors do not die (unless you ask for it with C<< fatal => 1 >>): a method
that fails returns C<undef> (an empty list in list context) and C<error>
returns a L<WebSocket::Exception> saying why.

=head1 CONSTRUCTOR

=head2 new( $uri, %options ), new( $uri, \%options ), new( uri => $uri, %options ), new( \%options )

Creates the client; nothing is connected until C<connect>. Unknown options
are refused (croak). Options:

=over 4

=item uri

C<ws://host[:port][/path][?query]> or C<wss://...>; IPv6 as C<ws://[::1]:9001/>.

=item origin

The C<Origin> header to send.

=item subprotocol

A subprotocol name or an array reference of them, offered in
C<Sec-WebSocket-Protocol>; read the server's choice with C<subprotocol>.
As in browsers, C<connect> fails when the server chooses none of them.

=item cookie

A C<Cookie> header to send: a string (C<"a=1; b=2">) or a hash reference
of names and values.

=item version

The protocol version: only 13 (RFC 6455) is supported; another value makes
C<connect> fail.

=item headers

Extra request headers, as a hash reference or an array reference of
name/value pairs (e.g. C<< [ Authorization => 'Bearer x' ] >>).

=item timeout

Seconds (fractions allowed) allowed for the TCP connection and, separately,
for the TLS and WebSocket handshakes. Default 10 each.

=item max_payload_size

Largest message accepted, in bytes; a larger one fails the connection with
1009 (C<WS_MESSAGE_TOO_LARGE>). Default 32 MiB.

=item max_fragments_amount

Most frames a message may arrive in (default: no limit); more fail the
connection with 1009.

=item silence_max

Seconds: when the server has been silent this long, the client pings it,
and when it stays silent as long again the connection fails (C<on_error>,
then C<on_disconnect> with 1006). Default 0: never.

=item extensions

C<'permessage-deflate'> offers compression (RFC 7692); the server may
decline. Any other extension name is an error at C<connect>.

=item compression_threshold

Messages smaller than this many bytes are sent uncompressed (default:
C<< WebSocket->compression_threshold >>, 10240).

=item ssl_ca_file

A PEM file of CA certificates to trust for wss://, in addition to the
system's.

=item ssl_no_verify

DANGEROUS, for tests only: accept any server certificate.

=item ssl_cert_file, ssl_key_file

A client certificate and its key (PEM files), for servers that ask for one.

=item send_watermarks

Flow control, as C<[ $low, $high ]> in bytes (default C<[ 262144, 1048576
]>). Once more than C<$high> bytes wait to be sent (C<buffered_amount>), a
send still queues but C<backpressure> becomes true, and the client stops
reading after one more message, so TCP pushes back on a server that sends
without reading. When the bytes waiting fall to C<$low>, C<on_drain> runs.
C<connect> fails unless both are byte counts with C<< $low <= $high >> and
C<< $high > 0 >>.

=item receive_parts

When true, messages are handed to C<on_part> piece by piece as they arrive,
instead of whole to C<on_recv>, C<on_utf8> and C<on_binary>: a message of
any size then passes through bounded memory (raise C<max_payload_size>,
which still limits each message's total).

=item reconnect

Replace a connection that fails or is lost by a new one: C<< reconnect => 1 >>
for the defaults, or a hash reference of C<delay> (the longest wait before the
first attempt, in seconds: default 0.5), C<max_delay> (the longest wait before
any attempt: default 30) and C<max_tries> (most attempts in a row: default 0,
no limit). Attempt I<n> waits a random time between half and all of
C<delay> doubled I<n>-1 times, at most C<max_delay>; the count starts afresh
once a connection has stayed open for C<max_delay>.

The client reconnects when a connection, the first one included, fails to
open (refused, TLS, handshake, timeout), is lost without a close frame (1006:
reset, keepalive timeout ...), or the server closes it with 1001 (going
away), 1011, 1012, 1013 or 1014. It does not when you close it
(C<disconnect>, or the object going away) or when the server closes it with
any other code: 1000, 1005, 1002, 1003, 1007 to 1010, or its own 3000 to
4999.

Each connection has its own C<on_connect> (or C<on_error>) and
C<on_disconnect>, as without reconnect; C<on_reconnect> comes before each
attempt and C<on_reconnected> once one has opened. While the client is
between connections, C<reconnecting> is true, C<connected> false, and sends
fail with C<WS_ERR_NOT_OPEN> (-8): nothing is kept for the next connection
(send it again from C<on_reconnected>). C<connect> waits until a connection
opens or the client gives up (C<max_tries>, or C<disconnect> in
C<on_reconnect>); C<start> runs until the client has ended.

=item do_pong

The callback that answers pings (see C<do_pong> below).

=item debug

A level (default 0): 1 and more send the library's log to STDERR (see
C<debug> in L<WebSocket::Object>).

=item fatal

When true, failing methods die with their L<WebSocket::Exception> instead of
returning C<undef>.

=item blocking

Default 1: C<connect> and C<disconnect> run the event loop until the
connection is open (or failed) or closed. With C<< blocking => 0 >>, for use
under an event loop of your own, they return at once and the callbacks
(C<on_connect>, C<on_error>, C<on_disconnect>) tell the outcome. Called from
inside a callback they never wait, whatever this option says, so callbacks
never run nested in one another.

=item on_connect, on_handshake, on_recv, on_utf8, on_binary, on_ping, on_pong, on_send, on_disconnect, on_error, on_drain, on_part, on_reconnect, on_reconnected

The callbacks, as described under L</CALLBACKS>.

=back

=head1 CALLBACKS

Each is given at C<new> or set with the method of the same name, which
returns the client (so calls chain) or, without an argument, returns the
callback. Every callback gets the client first. An exception thrown by a
callback propagates out of the method that ran it (C<connect>, C<start>,
C<poll>, ...); the connection itself is not affected.

=over 4

=item on_handshake($client, $handshake)

The server accepted the opening handshake: C<$handshake> is a
L<WebSocket::Handshake::Client> with the C<request> sent and the
C<response> received, as they went over the wire (also C<handshake>; the
response headers are readable with C<header> and C<headers> too).
C<on_connect> follows, unless this returns a defined false value: then the
client closes the connection with 1003 (C<WS_NOT_ACCEPTABLE>, "Handshake
rejected") and C<error> says so.

=item on_connect($client)

The connection is open.

=item on_recv($client, $bytes, $type)

Every message, as bytes (text messages as their UTF-8 bytes); C<$type> is
C<'text'> or C<'binary'>. Runs before C<on_utf8> / C<on_binary>.

=item on_utf8($client, $text)

A text message, decoded to a character string.

=item on_binary($client, $bytes)

A binary message.

=item on_ping($client, $payload), on_pong($client, $payload)

A ping or a pong arrived. Without C<on_ping> (and C<do_pong>) the library
answers pings itself, at once. With either set, the binding answers after
C<on_ping> returns: through C<do_pong> (by default C<pong> with the same
payload), or not at all when C<on_ping> returned a defined false value
(C<0>, C<''>).

=item on_send($client, $data, $type)

A message was queued by C<send_utf8> (C<$type> C<'text'>, C<$data> the
characters) or C<send_binary> (C<'binary'>, the bytes); not for messages in
parts.

=item on_drain($client)

A send had reported backpressure (see C<backpressure>), and the bytes
waiting to be sent have since fallen to the low watermark
(C<send_watermarks>): sending may go on. Once per time the high mark was
passed.

=item on_part($client, $data, \%info)

With C<receive_parts>: a piece of a message, in order, as it arrives.
C<$data> is characters for a text message (each piece is whole
characters), bytes for a binary one; C<%info> has C<type> (C<'text'> or
C<'binary'>), C<first> and C<last> (true on the message's first and last
piece; a one-piece message has both, and a last piece may be empty) and
C<total> (the message's bytes so far, this piece included; UTF-8 bytes for
text).

=item on_disconnect($client, $code, $reason)

A connection that was open has closed. C<$code> is the peer's close code,
1005 (C<WS_NO_STATUS>) if it sent none, 1006 (C<WS_CLOSED_ABNORMALLY>) if the
connection ended without a close frame.

=item on_error($client, $exception)

Something failed: connecting, a handshake, TLS, a protocol violation by the
peer, a timeout. C<$exception> is a L<WebSocket::Exception>, also kept as
C<error>.

=item on_reconnect($client, $attempt, $delay)

With C<reconnect>: the connection was lost (its C<on_disconnect>, or
C<on_error> for one that never opened, came before) and attempt number
C<$attempt> (from 1) will connect C<$delay> seconds after the loss. Call
C<< $client->disconnect >> here (or anywhere) to stop reconnecting.

=item on_reconnected($client, $attempt)

With C<reconnect>: attempt number C<$attempt> opened a new connection (its
C<on_connect> came just before): subscribe again, resend what was lost.

=back

=head1 METHODS

=head2 connect

Connects and runs the event loop until the connection is open or has
failed. Returns the client, or C<undef> with C<error> set (a refused port, a
bad URI, an untrusted certificate, a timeout ...). Without waiting (see
C<blocking>) it returns the client once the connection is under way, and
fails at once only for what can be seen before connecting (a bad URI ...).
After a connection has closed, C<connect> makes a new one.

=head2 start

Runs the event loop (a C<select> on C<event_fd>, then C<poll>) until the
connection is closed. Returns the client.

=head2 poll

Runs the callbacks of every event already queued, without blocking, and
returns how many events there were. The event queue is shared by all
clients of the process: events of other clients run their callbacks too.

=head2 event_fd

A file descriptor that is readable while events wait for C<poll>. Only wait
on it (select, poll, AnyEvent, IO::Async ...); do not read or close it.

=head2 send($type, $data, %options), send($text, %options)

With a type first (C<'text'> or C<'utf8'>, C<'binary'>, C<'ping'>, C<'pong'>),
the same as the methods below: C<< $client->send( binary => $bytes ) >>.
Without one, C<send_utf8>. The arguments say which: a type comes first when
an even number of them follows the client (type, data, option pairs).

=head2 send_utf8($text, %options)

Queue a text message. C<$text> is a character string; it is encoded to
UTF-8. Return the client, or C<undef> with C<error> set (not open, the send
queue is full, ...). A send that leaves more than the high watermark
waiting still queues and returns the client, and C<backpressure> becomes
true: stop sending until C<on_drain>. The options of a message (unknown
ones croak):

=over 4

=item compress => 1 or 0

Compress this message, or not, whatever its size and the
C<compression_threshold> (when permessage-deflate is in use; otherwise it
goes uncompressed anyway).

=back

=head2 send_binary($bytes, %options)

Queues a binary message, as C<send_utf8>. Croaks if C<$bytes> holds
characters above 255.

=head2 start_message($type, %options)

Opens a message to be sent in parts, of C<$type> C<'text'> (or C<'utf8'>)
or C<'binary'>, with the options of C<send_utf8> for the whole message.
Its size is not known when it starts, so with permessage-deflate it is
compressed only when C<compress =E<gt> 1> asks for it.
Returns a L<WebSocket::Message>: give it the parts with C<send> and end it
with C<finish>. C<undef> with C<error> set when another message in parts is
open (C<WS_ERR_BAD_STATE>), the client is not connected, or for another
type.

=head2 buffered_amount

Bytes queued on the connection and not yet written to its socket (0 when
not connected), as the browser's C<bufferedAmount>.

=head2 backpressure

True from a send that reported backpressure (more than the high watermark
waited) until C<on_drain>.

=head2 ping($payload), pong($payload)

Queue a ping (answered by a pong, see C<on_pong>) or an unsolicited pong,
with at most 125 bytes of payload.

=head2 do_pong( [\&callback] )

The callback that answers a ping, C<< $callback->($client, $payload) >>
(C<undef>: C<pong> with the payload); with an argument, sets it and returns
the client. Setting one makes the binding answer pings (see C<on_ping>).

=head2 shutdown

Closes the connection at once, without the close handshake: nothing more is
sent, the server sees the TCP connection end, and C<on_disconnect> follows
with 1006 (C<WS_CLOSED_ABNORMALLY>). Returns the client, or C<undef> with
C<error> set when it is not open.

=head2 handshake

The opening handshake of the current connection (see C<on_handshake>), or
C<undef> before one.

=head2 disconnect( [$code = WS_OK, $reason = ''] )

Starts the close handshake with C<$code> (1000-1003, 1007-1011, 3000-4999)
and C<$reason> (at most 123 bytes of UTF-8), and runs the event loop until
the connection is closed (the server answers or the close timeout of 5 s
passes; see C<blocking> for when it does not wait). With C<reconnect>, it
also stops reconnecting, between connections too. Returns the client, or
C<undef> with C<error> set (when it was not open, for a code outside
1000-4999 ...).

=head2 connected

True while the connection is open.

=head2 reconnecting

True while a client with C<reconnect> is between connections: from the loss
of one that another attempt will replace until a connection opens again or
the client gives up.

=head2 subprotocol

The subprotocol the server chose, or C<undef>.

=head2 extensions

The extension in use as a C<Sec-WebSocket-Extensions> value, e.g.
C<"permessage-deflate">, or C<""> for none.

=head2 is_secure

True for a TLS (wss://) connection.

=head2 header($name), headers

One header of the server's handshake response (case-insensitive; C<undef>
when absent), or all of them as C<[name, value]> pairs.

=head2 close_code, close_reason

After the connection closed: the peer's close code and reason.

=head2 id

The connection's id: a number unique in the process, the C<$conn_id> of the
log lines about it (see L<WebSocket/log_callback>); C<undef> before
C<connect>.

=head2 stats

What the connection carried, as a hash reference: C<id>, C<messages_in>,
C<bytes_in>, C<messages_out>, C<bytes_out>, C<send_queue_high_water>.
Messages are whole messages (control frames are not counted), bytes their
payload as the application sees it (before compression going out, after
decompression coming in); a message sent counts once the library's I/O
thread took it. It answers from C<connect> until the next C<connect>, after the close too;
C<undef> with C<error> set before C<connect>.

=head2 error

The last L<WebSocket::Exception>, or C<undef>. As a class method
(C<< WebSocket::Client->error >>), the last error of a class method.

=head2 uri, fatal

The URI given; the C<fatal> flag (get, or set with an argument).

=head2 version

The protocol version, a L<WebSocket::Version> (13, draft-ietf-hybi-17).

=head2 cookie, origin, timeout, compression_threshold, debug

The options of the same names (C<compression_threshold>: the process-wide
default when not given). With an argument, set it for the next C<connect>
and return the client.

=head2 disconnected, disconnecting

True once the connection has closed (or the client gave up); true while
its close handshake is under way (after C<disconnect>).

=head2 on( event => \&callback, ... )

Sets callbacks by event name: C<< $client->on( utf8 => sub { ... } ) >> is
C<< $client->on_utf8( sub { ... } ) >>.

=head1 CALLBACKS AND THE EVENT LOOP

Do not leave a callback with C<exit>, C<last> or C<next> (those would jump
over the library's frames): return from it, and call C<exit> once C<start>
or C<poll> has returned. Exceptions (C<die>) are fine. Use the binding only
from the thread that loaded it (other Perl threads get no copies of its
objects, and their calls croak).

=head1 LIFETIME

Callbacks get the client as their first argument: use it (C<$_[0]>) rather
than the variable holding the client, since a callback that refers to that
variable keeps the client (and its connection's resources) alive as long as
the callback exists.

When the client object goes away, its connection is closed with 1001
(C<WS_GONE>) in the background and its resources are freed; no callback of it
runs afterwards.

=head1 SEE ALSO

L<WebSocket>, L<WebSocket::Exception>.

=cut

package WebSocket::Server;

use strict;
use warnings;
use Carp ();
use Scalar::Util ();
use Time::HiRes ();
use WebSocket qw( :ws );
use WebSocket::Connection;
use WebSocket::Exception;
use WebSocket::FFI;
use parent 'WebSocket::Object';

our $VERSION = '0.01';

my @EVENTS = qw( on_accept on_connect on_shutdown on_tick );

my %OPTIONS = map { $_ => 1 } @EVENTS, qw(
  port host extensions compression_threshold subprotocol version silence_max
  tick_period timeout max_payload_size max_fragments_amount max_connections max_handshakes
  ssl_cert_file ssl_key_file ssl_sni ssl_ca_file ssl_client_cert_optional fatal blocking
  send_watermarks receive_parts slow_subscriber debug connection_class legacy
  watch_readable watch_writable listen
);

# The slow_subscriber option's values.
my %SLOW = ( skip => WebSocket::FFI::WS_SLOW_SKIP, close => WebSocket::FFI::WS_SLOW_CLOSE );

# The arguments of reload_ssl.
my %RELOAD_ARGS = map { $_ => 1 } qw( cert_file key_file hostname );

# How long shutdown waits for the close handshakes (the library's close
# timeout, 5 s, plus a margin).
use constant SHUTDOWN_WAIT => 6;


sub new {
    my $class = shift;
    my %opts  = $class->_options(@_);
    for my $key ( sort keys %opts ) {
        Carp::croak("WebSocket::Server->new: unknown option '$key'") unless $OPTIONS{$key};
        Carp::croak("WebSocket::Server->new: $key is not a code reference")
          if $key =~ /^on_/ && defined $opts{$key} && ref $opts{$key} ne 'CODE';
    }
    my $why = WebSocket::Object::_bad_version( $opts{version} ) // (
        defined $opts{port} && ( $opts{port} !~ /\A[0-9]+\z/ || $opts{port} > 65535 ) ? "port '$opts{port}' is not a port number"
      : defined $opts{tick_period} && !( $opts{tick_period} =~ /\A[0-9.]+\z/ && $opts{tick_period} > 0 ) ? 'tick_period must be a positive number of seconds'
      : defined $opts{silence_max} && $opts{silence_max} !~ /\A[0-9.]+\z/ ? 'silence_max must be a number of seconds'
      : defined $opts{ssl_sni} && ( ref $opts{ssl_sni} ne 'HASH' || grep { ref ne 'HASH' } values %{ $opts{ssl_sni} } )
      ? 'ssl_sni must be a hash reference: { server name => { cert_file => ..., key_file => ... } }'
      : defined $opts{slow_subscriber} && !( !ref $opts{slow_subscriber} && exists $SLOW{ $opts{slow_subscriber} } )
      ? "slow_subscriber must be 'skip' or 'close', not '$opts{slow_subscriber}'"
      : defined $opts{listen} && !( ref $opts{listen} && defined fileno $opts{listen} )
      ? 'listen must be a listening socket (an IO::Socket::INET, IO::Socket::SSL ...)'
      : defined $opts{connection_class} && !_is_connection_class( $opts{connection_class} )
      ? "connection_class '$opts{connection_class}' is not a loaded subclass of WebSocket::Connection"
      :                                                                   undef );
    return $class->_class_fail( $opts{fatal}, -2, "WebSocket::Server->new: $why" ) if $why;
    WebSocket::Object::_debug_log( $opts{debug} );
    my %watch = map { $_ => delete $opts{$_} } grep { exists $opts{$_} } qw( watch_readable watch_writable );
    my $self = bless {
        port  => 8080,
        host  => '0.0.0.0',
        %opts,
        conns   => {},    # id => WebSocket::Connection, open or closing
        pending => {},    # id => WebSocket::Connection accepted, not yet open
        next_id => 0,
        watch   => { readable => {}, writable => {} },    # refaddr => [ $fh, $cb ]
    }, $class;
    for my $which ( sort keys %watch ) {
        Carp::croak("WebSocket::Server->new: $which expects an array reference of handle => callback pairs")
          unless ref $watch{$which} eq 'ARRAY';
        $self->$which( @{ $watch{$which} } );
    }
    return $self;
}

# on_connect, on_shutdown, on_tick: get or set (returns the server).
__PACKAGE__->_callbacks(@EVENTS);

# A class name whose objects can stand for connections.
sub _is_connection_class {
    my ($name) = @_;
    return !ref $name && $name->can('isa') && $name->isa('WebSocket::Connection');
}

# The subprotocols the server speaks, preferred first.
sub _subprotocols {
    my $sp = $_[0]{subprotocol};
    return defined $sp ? ( ref $sp eq 'ARRAY' ? @$sp : $sp ) : ();
}

sub _call {
    my ( $self, $event, @args ) = @_;
    my $cb = $self->{$event} or return;
    return $cb->( $self, @args );
}

# --- Listening -------------------------------------------------------------

sub _configure {
    my ( $self, $cfg ) = @_;
    my $check = \&WebSocket::Object::_check;
    my $ms    = \&WebSocket::Object::_ms;
    $check->( dispatch => WebSocket::FFI::ws_server_config_set_dispatch( $cfg, WebSocket::FFI::WS_DISPATCH_POLL ) );
    if ( WebSocket::Object::_wants_deflate( $self->{extensions} ) ) {
        $check->( extensions => WebSocket::FFI::ws_server_config_set_deflate( $cfg, 1 ) );
    }
    if ( defined $self->{compression_threshold} ) {
        $check->( compression_threshold => WebSocket::FFI::ws_server_config_set_compression_threshold( $cfg, $self->{compression_threshold} ) );
    }
    for my $name ( $self->_subprotocols ) {
        $check->( subprotocol => WebSocket::FFI::ws_server_config_add_subprotocol( $cfg, $name ) );
    }
    if ( $self->{silence_max} ) {
        $check->( silence_max => WebSocket::FFI::ws_server_config_set_keepalive_ms( $cfg, $ms->( $self->{silence_max} ) ) );
    }
    if ( defined $self->{timeout} ) {
        $check->( timeout => WebSocket::FFI::ws_server_config_set_handshake_timeout_ms( $cfg, $ms->( $self->{timeout} ) ) );
    }
    if ( defined $self->{max_payload_size} ) {
        $check->( max_payload_size => WebSocket::FFI::ws_server_config_set_max_message_size( $cfg, $self->{max_payload_size} ) );
    }
    if ( defined $self->{max_fragments_amount} ) {
        $check->( max_fragments_amount => WebSocket::FFI::ws_server_config_set_max_fragments( $cfg, $self->{max_fragments_amount} ) );
    }
    if ( defined $self->{max_connections} ) {
        $check->( max_connections => WebSocket::FFI::ws_server_config_set_max_connections( $cfg, $self->{max_connections} ) );
    }
    if ( defined $self->{max_handshakes} ) {
        $check->( max_handshakes => WebSocket::FFI::ws_server_config_set_max_handshakes( $cfg, $self->{max_handshakes} ) );
    }
    if ( my @pair = $self->_listener_tls ) {
        $check->( listen => WebSocket::FFI::ws_server_config_set_tls_cert_file( $cfg, @pair ) );
    }
    elsif ( defined $self->{ssl_cert_file} || defined $self->{ssl_key_file} ) {
        $check->( ssl_cert_file => WebSocket::FFI::ws_server_config_set_tls_cert_file( $cfg, $self->{ssl_cert_file}, $self->{ssl_key_file} ) );
    }
    for my $name ( sort keys %{ $self->{ssl_sni} || {} } ) {
        my $pair = $self->{ssl_sni}{$name};
        $check->( "ssl_sni $name" => WebSocket::FFI::ws_server_config_add_tls_sni_cert_file( $cfg, $name, $pair->{cert_file}, $pair->{key_file} ) );
    }
    if ( defined $self->{ssl_ca_file} ) {
        $check->( ssl_ca_file => WebSocket::FFI::ws_server_config_add_tls_client_ca_file( $cfg, $self->{ssl_ca_file} ) );
        if ( $self->{ssl_client_cert_optional} ) {
            $check->( ssl_client_cert_optional => WebSocket::FFI::ws_server_config_set_tls_client_cert_optional( $cfg, 1 ) );
        }
    }
    if ( defined $self->{send_watermarks} ) {
        $check->( send_watermarks => WebSocket::FFI::ws_server_config_set_send_watermarks( $cfg,
            WebSocket::Object::_watermarks( $self->{send_watermarks} ) ) );
    }
    if ( $self->{receive_parts} ) {
        $check->( receive_parts => WebSocket::FFI::ws_server_config_set_receive_parts( $cfg, 1 ) );
    }
    if ( defined $self->{slow_subscriber} ) {
        $check->( slow_subscriber => WebSocket::FFI::ws_server_config_set_slow_subscriber( $cfg, $SLOW{ $self->{slow_subscriber} } ) );
    }
    return;
}

# The socket given as the listen option, if any.
sub socket { $_[0]{listen} }

# The certificate and key of an IO::Socket::SSL listener (the arguments it was
# made with), when the ssl_cert_file and ssl_key_file options do not say.
sub _listener_tls {
    my ($self) = @_;
    return unless $self->_listener_is_ssl && !defined $self->{ssl_cert_file};
    my $socket = $self->{listen};
    my $args = ${*$socket}{_SSL_arguments} || {};
    die WebSocket::Exception->new( code => -2,
        message => 'listen: an IO::Socket::SSL listener needs SSL_cert_file and SSL_key_file (or the ssl_cert_file and ssl_key_file options)' )
      unless defined $args->{SSL_cert_file} && defined $args->{SSL_key_file};
    return ( $args->{SSL_cert_file}, $args->{SSL_key_file} );
}

sub listen {
    my ($self) = @_;
    WebSocket::FFI::check_thread();
    return $self if $self->{server};
    my $cfg = $self->_new_config( \&WebSocket::FFI::ws_server_config_new, \&WebSocket::FFI::ws_server_config_free )
      or return;
    $self->{id} = WebSocket::FFI::register($self);
    my $socket = $self->{listen};
    my $server =
      $socket
      ? WebSocket::FFI::ws_server_listen_fd( fileno($socket) // -1, $cfg, $WebSocket::FFI::CALLBACKS, $self->{id} )
      : WebSocket::FFI::ws_server_listen( $self->{host}, $self->{port}, $cfg, $WebSocket::FFI::CALLBACKS, $self->{id} );
    my @why = $server ? () : WebSocket::FFI::last_error();
    WebSocket::FFI::ws_server_config_free($cfg);
    unless ($server) {
        WebSocket::FFI::unregister( delete $self->{id} );
        my $where = $socket ? 'the listen socket' : "$self->{host}:$self->{port}";
        return $self->_fail( $why[0], "listen on $where: $why[1]" );
    }
    $self->{server}    = $server;
    $self->{next_tick} = Time::HiRes::time() + $self->{tick_period} if $self->{tick_period};
    delete $self->{error};
    return $self;
}

sub start {
    my ($self) = @_;
    $self->listen or return;
    $self->{running} = 1;
    while ( $self->{server} && ( $self->{running} || $self->{shutting_down} ) ) {
        my $wait = defined $self->{next_tick} ? $self->{next_tick} - Time::HiRes::time() : undef;
        $wait = 0 if defined $wait && $wait < 0;
        $self->_wait($wait);
        $self->_housekeeping;
    }
    return $self;
}

sub poll {
    my ( $self, $timeout ) = @_;
    my $n = $self->_wait( $timeout || 0 );
    return $self->_fail( WebSocket::FFI::last_error() ) if $n < 0;
    $self->_housekeeping;
    return $n;
}

sub event_fd { WebSocket::FFI::ws_event_fd() }

sub stop { shift->shutdown }

sub shutdown {
    my ($self) = @_;
    my $server = $self->{server} or return $self;
    $self->{running} = 0;
    WebSocket::FFI::ws_server_stop($server) unless $self->{shutting_down}++;
    if ( $self->_idle ) {
        $self->_shut;
    }
    elsif ( ( $self->{blocking} // 1 ) && !WebSocket::FFI::in_callback() ) {
        # Let the close handshakes finish, so every on_disconnect runs.
        my $until = Time::HiRes::time() + SHUTDOWN_WAIT;
        while ( $self->{server} && ( my $left = $until - Time::HiRes::time() ) > 0 ) {
            WebSocket::FFI::wait_and_dispatch($left);
        }
        $self->_shut;
    }
    # Otherwise the last connection's close finishes the shutdown.
    return $self;
}

# --- Other file handles in the server's loop -------------------------------

sub watch_readable   { shift->_watch( readable => @_ ) }
sub watch_writable   { shift->_watch( writable => @_ ) }
sub watched_readable { shift->_watched( readable => @_ ) }
sub watched_writable { shift->_watched( writable => @_ ) }
sub unwatch_readable { shift->_unwatch( readable => @_ ) }
sub unwatch_writable { shift->_unwatch( writable => @_ ) }

sub _watch {
    my ( $self, $which, @pairs ) = @_;
    Carp::croak("watch_$which: expects handle => callback pairs") if @pairs % 2;
    while ( my ( $fh, $cb ) = splice @pairs, 0, 2 ) {
        Carp::croak("watch_$which: not an open file handle") unless ref $fh && defined fileno $fh;
        Carp::croak("watch_$which: not a code reference") unless ref $cb eq 'CODE';
        $self->{watch}{$which}{ Scalar::Util::refaddr($fh) } = [ $fh, $cb ];
    }
    return $self;
}

sub _watched {
    my ( $self, $which, @fh ) = @_;
    my $watched = $self->{watch}{$which};
    if (@fh) {
        my $entry = ref $fh[0] && $watched->{ Scalar::Util::refaddr( $fh[0] ) };
        return $entry ? $entry->[1] : undef;
    }
    return map { @$_ } @{$watched}{ sort keys %$watched };
}

sub _unwatch {
    my ( $self, $which, @fhs ) = @_;
    delete $self->{watch}{$which}{ Scalar::Util::refaddr($_) } for grep { ref } @fhs;
    return $self;
}

# Waits up to $timeout seconds (undef: without limit) for library events or
# a watched handle, runs the callbacks of the watched handles that are
# ready, then dispatches the library's events; returns how many ran.
sub _wait {
    my ( $self, $timeout ) = @_;
    my %fds = map { $_ => _fds( $self->{watch}{$_} ) } qw( readable writable );
    return WebSocket::FFI::wait_and_dispatch($timeout) unless %{ $fds{readable} } || %{ $fds{writable} };
    my ( $rin, $win ) = ( '', '' );
    vec( $rin, WebSocket::FFI::ws_event_fd(), 1 ) = 1;
    vec( $rin, $_, 1 ) = 1 for keys %{ $fds{readable} };
    vec( $win, $_, 1 ) = 1 for keys %{ $fds{writable} };
    my $n = select( my $rout = $rin, my $wout = $win, undef, $timeout );
    my $ran = 0;
    if ( $n > 0 ) {
        my %ready = ( readable => $rout, writable => $wout );
        for my $which (qw( readable writable )) {
            for my $fd ( sort { $a <=> $b } keys %{ $fds{$which} } ) {
                next unless vec( $ready{$which}, $fd, 1 );
                my $key = $fds{$which}{$fd};
                # A callback may have unwatched it meanwhile.
                my $entry = $self->{watch}{$which}{$key} or next;
                WebSocket::FFI::as_callback( sub { $entry->[1]->( $self, $entry->[0] ) } );
                $ran++;
            }
        }
    }
    return $ran + WebSocket::FFI::dispatch(0);
}

# The descriptors of the watched handles still open: fd => key.
sub _fds {
    my ($watched) = @_;
    my %fds;
    for my $key ( keys %$watched ) {
        my $fd = fileno $watched->{$key}[0];
        $fds{$fd} = $key if defined $fd;
    }
    return \%fds;
}

# No connection is open or on its way to opening.
sub _idle { !%{ $_[0]{conns} } && !%{ $_[0]{pending} } }

# Ends a shutdown: frees the server and runs on_shutdown. Connections still
# there (only when the wait for them ran out) are forgotten.
sub _shut {
    my ($self) = @_;
    my $server = delete $self->{server} or return;
    delete $self->{shutting_down};
    WebSocket::FFI::unregister( delete $self->{id} );
    $self->{last_stats} = $self->_stats_of($server);
    WebSocket::FFI::ws_server_free($server);
    $_->_forget for values %{ $self->{conns} }, values %{ $self->{pending} };
    $self->{conns}   = {};
    $self->{pending} = {};
    WebSocket::FFI::as_callback( sub { $self->_call('on_shutdown') } );
}

# Between dispatches: runs on_tick when due.
sub _housekeeping {
    my ($self) = @_;
    my $next = $self->{next_tick} or return;
    my $now  = Time::HiRes::time();
    return if $now < $next || !$self->{server};
    # The next tick is a whole period after this one (skipping missed ones).
    $next += $self->{tick_period} while $next <= $now;
    $self->{next_tick} = $next;
    WebSocket::FFI::as_callback( sub { $self->_call('on_tick') } );
}

# --- What the server is ----------------------------------------------------

sub connections {
    my ($self) = @_;
    my $conns = $self->{conns};
    my @ready = grep { $_->is_ready } map { $conns->{$_} } sort { $a <=> $b } keys %$conns;
    return @ready if wantarray || $self->{legacy};
    require WebSocket::Array;
    return WebSocket::Array->new( \@ready );
}

sub ip { $_[0]{host} }

__PACKAGE__->_accessors(qw( extensions tick_period silence_max ));

# The versions spoken: a WebSocket::Array of the one WebSocket::Version.
sub versions {
    my ($self) = @_;
    require WebSocket::Array;
    return WebSocket::Array->new( [ $self->version ] );
}

sub port {
    my ($self) = @_;
    return $self->{server} ? WebSocket::FFI::ws_server_port( $self->{server} ) : $self->{port};
}

sub is_ssl {
    my ($self) = @_;
    return WebSocket::FFI::ws_server_is_secure( $self->{server} ) > 0 ? 1 : 0 if $self->{server};
    return defined $self->{ssl_cert_file} || $self->_listener_is_ssl ? 1 : 0;
}

# The listen option is an IO::Socket::SSL listener.
sub _listener_is_ssl {
    my $socket = $_[0]{listen};
    return Scalar::Util::blessed($socket) && ( $socket->isa('IO::Socket::SSL') || $socket->can('accept_SSL') );
}

sub reload_ssl {
    my ( $self, %args ) = @_;
    for my $key ( sort keys %args ) {
        Carp::croak("WebSocket::Server->reload_ssl: unknown argument '$key'") unless $RELOAD_ARGS{$key};
    }
    my $server = $self->{server}
      or return $self->_fail( WebSocket::FFI::WS_ERR_BAD_STATE, 'reload_ssl: the server is not listening' );
    my ( $cert, $key, $name ) = @args{qw( cert_file key_file hostname )};
    my $rc =
      defined $name
      ? WebSocket::FFI::ws_server_reload_tls_sni_cert_file( $server, $name, $cert, $key )
      : WebSocket::FFI::ws_server_reload_tls_cert_file( $server, $cert, $key );
    return $self->_fail_last('reload_ssl') if $rc < 0;
    # A later listen (after shutdown) starts with these.
    if   ( defined $name ) { $self->{ssl_sni} = { %{ $self->{ssl_sni} || {} }, $name => { cert_file => $cert, key_file => $key } } }
    else                   { @$self{qw( ssl_cert_file ssl_key_file )} = ( $cert, $key ) }
    return $self;
}

# --- Topics -----------------------------------------------------------------

sub publish      { shift->publish_utf8(@_) }

sub publish_utf8 {
    my ( $self, $topic, $text, @more ) = @_;
    Carp::croak('publish: takes a topic and a text, no options') if @more;
    return $self->_publish( publish => WebSocket::FFI::WS_MESSAGE_TEXT, $topic, WebSocket::FFI::text_to_utf8($text) );
}

sub publish_binary {
    my ( $self, $topic, $bytes, @more ) = @_;
    Carp::croak('publish_binary: takes a topic and bytes, no options') if @more;
    $bytes = '' unless defined $bytes;
    utf8::downgrade( $bytes, 1 )
      or Carp::croak('publish_binary: wide character in bytes (encode the string first)');
    return $self->_publish( publish_binary => WebSocket::FFI::WS_MESSAGE_BINARY, $topic, $bytes );
}

# Publishes $bytes as a message of $kind (WS_MESSAGE_*) to $topic: how many
# subscribers it went to, or undef with error set.
sub _publish {
    my ( $self, $what, $kind, $topic, $bytes ) = @_;
    my $name = $self->_topic( $what, $topic ) // return;
    my $server = $self->{server}
      or return $self->_fail( WebSocket::FFI::WS_ERR_BAD_STATE, "$what: the server is not listening" );
    my ( $ptr, $len ) = WebSocket::FFI::buffer($bytes);
    my $n = WebSocket::FFI::ws_server_publish( $server, $name, $kind, $ptr, $len );
    return $self->_fail_last($what) if $n < 0;
    return $n;
}

sub subscriber_count {
    my ( $self, $topic ) = @_;
    my $name = $self->_topic( subscriber_count => $topic ) // return;
    return 0 unless $self->{server};
    return WebSocket::FFI::ws_server_subscriber_count( $self->{server}, $name );
}

# --- Statistics -----------------------------------------------------------

sub stats {
    my ($self) = @_;
    return $self->_stats_of( $self->{server} ) // $self->_fail_last('stats') if $self->{server};
    return { %{ $self->{last_stats} } } if $self->{last_stats};
    return $self->_fail( WebSocket::FFI::WS_ERR_BAD_STATE, 'stats: the server never listened' );
}

sub _stats_of {
    my ( $self, $server ) = @_;
    return WebSocket::FFI::get_stats( \&WebSocket::FFI::ws_server_get_stats, $server, @WebSocket::FFI::SERVER_STATS );
}

sub max_payload_size { defined $_[0]{max_payload_size} ? $_[0]{max_payload_size} : 32 << 20 }

# --- Events from WebSocket::FFI (run inside ws_dispatch) --------------------

sub _ws_handshake {
    my ( $self, $hs ) = @_;
    my $id   = ++$self->{next_id};
    my $conn = ( $self->{connection_class} // 'WebSocket::Connection' )->_new( server => $self, handshake => $hs, id => $id, fatal => $self->{fatal} );
    my $ok   = eval {
        if ( my $on_accept = $self->{on_accept} ) {
            $conn->_judge( sub { $on_accept->( $self->_accept_args($conn) ) } );
        }
        $conn->_judge( sub { $self->_call( on_connect => $conn ) } ) if $conn->{hs};
        $conn->_decide if $conn->{hs};
        1;
    };
    my $err = $@;
    # A callback that died refuses the request; the exception propagates.
    $conn->_reject( 500, 'Internal Server Error' ) if $conn->{hs};
    # An accepted request ends in _ws_open, or in _ws_error + _ws_close when
    # the 101 could not be written; a refused one is over.
    if   ( $conn->{state} eq 'accepted' && $self->{server} ) { $self->{pending}{$id} = $conn }
    else                                                     { $conn->_forget }
    die $err unless $ok;
}

# What on_accept gets: the seed's keys (the library owns the sockets, so
# socket is undef) and the client's address.
sub _accept_args {
    my ( $self, $conn ) = @_;
    return {
        server      => $self,
        socket      => undef,
        subprotocol => [ $self->_subprotocols ],
        ip          => $conn->ip,
        port        => $conn->port,
    };
}

sub _conn_of {
    my ( $self, $handle ) = @_;
    my $id = WebSocket::FFI::ws_conn_get_user_data($handle) or return;
    return $self->{conns}{$id} || $self->{pending}{$id};
}

sub _ws_open {
    my ( $self, $handle ) = @_;
    my $id   = WebSocket::FFI::ws_conn_get_user_data($handle) or return;
    my $conn = delete $self->{pending}{$id} or return;
    $self->{conns}{$id} = $conn;
    $conn->_opened($handle);
}

sub _ws_message {
    my ( $self, $handle, $type, $bytes ) = @_;
    my $conn = $self->_conn_of($handle) or return;
    $conn->_message( $type, $bytes );
}

sub _ws_ping {
    my ( $self, $handle, $data ) = @_;
    my $conn = $self->_conn_of($handle) or return;
    $conn->_pinged( $conn->_call( ping => $data ), $data );
}

sub _ws_pong {
    my ( $self, $handle, $data ) = @_;
    my $conn = $self->_conn_of($handle) or return;
    $conn->_call( pong => $data );
}

sub _ws_drain {
    my ( $self, $handle ) = @_;
    my $conn = $self->_conn_of($handle) or return;
    $conn->_drain;
}

sub _ws_message_part {
    my ( $self, $handle, @piece ) = @_;
    my $conn = $self->_conn_of($handle) or return;
    $conn->_part(@piece);
}

sub _ws_error {
    my ( $self, $handle, $status, $message ) = @_;
    my $conn = $self->_conn_of($handle) or return;
    $conn->_failed( $status, $message );
}

sub _ws_close {
    my ( $self, $handle, $code, $reason ) = @_;
    my $id = WebSocket::FFI::ws_conn_get_user_data($handle) or return;
    my $conn = delete $self->{conns}{$id} || delete $self->{pending}{$id} or return;
    my $ok = eval { $conn->_closed( $code, $reason ); 1 };
    my $err = $@;
    $self->_shut if $self->{shutting_down} && $self->_idle;
    die $err unless $ok;
}

sub DESTROY {
    my ($self) = @_;
    WebSocket::FFI::unregister( $self->{id} ) if defined $self->{id};
    WebSocket::FFI::ws_server_free( delete $self->{server} ) if $self->{server};
}

1;

__END__

=encoding utf8

=head1 NAME

WebSocket::Server - WebSocket server (ws:// and wss://) over libwebsocket

=head1 SYNOPSIS

    use WebSocket qw( :ws );
    use WebSocket::Server;

    my $server = WebSocket::Server->new(
        host        => '127.0.0.1',
        port        => 0,                       # 0: any free port
        extensions  => 'permessage-deflate',
        silence_max => 30,                      # ping quiet clients, drop dead ones
        tick_period => 0.2,
        on_tick     => sub {
            my ($server) = @_;
            $_->send_utf8( 'time: ' . time ) for $server->connections;
        },
        on_connect => sub {
            my ( $server, $conn ) = @_;
            $conn->on(
                utf8 => sub {
                    my ( $conn, $text ) = @_;
                    $conn->send_utf8($text);    # echo
                },
                binary => sub {
                    my ( $conn, $bytes ) = @_;
                    $conn->send_binary($bytes);
                },
            );
            return 1;    # a defined false value would refuse the client (403)
        },
    ) or die WebSocket::Server->error;
    $server->listen or die $server->error;
    print "listening on ws://127.0.0.1:", $server->port, "/\n";

    # A client in the same program (usually it would be elsewhere).
    use WebSocket::Client;
    my $client = WebSocket::Client->new( 'ws://127.0.0.1:' . $server->port . '/',
        on_utf8 => sub {
            my ( $c, $text ) = @_;
            return if $text =~ /^time:/;
            print "echo: $text\n";
            $server->shutdown;    # closes every client with 1001, then start returns
        },
    );
    $client->connect or die $client->error;
    $client->send_utf8('hello');
    $server->start;

=head1 DESCRIPTION

A WebSocket server (RFC 6455, with permessage-deflate and TLS) whose
protocol and I/O work is done by libwebsocket on its own thread. Your
callbacks never run on that thread: the library queues events and they run
on your thread inside C<start> or C<poll>. To combine the server with an
event loop of your own (AnyEvent, IO::Async, ...), watch C<event_fd> for
readability and call C<poll> when it is readable.

Each upgrade request becomes a L<WebSocket::Connection> handed to
C<on_connect>, where you set its callbacks (C<< $conn->on(...) >>); those
callbacks can read the request and refuse it before the handshake
completes.

Errors do not die (unless you ask with C<< fatal => 1 >>): a method that
fails returns C<undef> (an empty list in list context) and C<error> returns
a L<WebSocket::Exception>.

=head1 CONSTRUCTOR

=head2 new(%options), new(\%options)

Creates the server; nothing listens until C<listen> or C<start>. The
options come as pairs or in one hash reference. Unknown options are refused
(croak); invalid values make C<new> return C<undef> with
C<< WebSocket::Server->error >> set. Options:

=over 4

=item port

The TCP port (default 8080); 0 picks a free one, which C<port> then returns.

=item host

The address to listen on (default C<0.0.0.0>; C<127.0.0.1>, C<::1>, a name).

=item extensions

C<'permessage-deflate'> accepts compression (RFC 7692) from clients that
offer it.

=item compression_threshold

Messages smaller than this many bytes are sent uncompressed (default
C<< WebSocket->compression_threshold >>).

=item subprotocol

A name or an array reference of names, preferred first. A client that
offers subprotocols gets the first of these it offered; one that offers
only others is refused (400). A connection's C<on_handshake> may choose
instead.

=item version

The protocol version: only 13 (RFC 6455; C<draft-ietf-hybi-17>, or a
L<WebSocket::Version> of it) is supported.

=item silence_max

Seconds: a client silent this long is pinged, and when it stays silent as
long again (not even a pong) it is dropped (C<on_error>, then
C<on_disconnect> with 1006). Default 0: never.

=item tick_period, on_tick

Calls C<on_tick($server)> every C<tick_period> seconds while C<start> runs
(or, under your own loop, from C<poll> when a tick is due).

=item timeout

Seconds a client has to complete the opening handshake (default 10).

=item max_payload_size

Largest message accepted, in bytes (default 32 MiB); a larger one fails the
connection with 1009.

=item max_fragments_amount

Most frames a message may arrive in (default: no limit); more fail the
connection with 1009.

=item max_connections

Most open connections at once (default 10000); further clients get HTTP
503. Connections still in their opening handshake do not count.

=item max_handshakes

Most connections at once still in their opening handshake, before their
request is read (default 4096). When one more comes, the oldest of them is
dropped, so peers that connect and then send nothing, or a byte at a time
(slowloris), cannot keep fresh clients out. From half that many on, new
connections get a handshake deadline of at most 2 seconds.

=item ssl_cert_file, ssl_key_file

A certificate chain and its private key (PEM files): the port then speaks
TLS only (wss://).

=item ssl_sni

Other certificates, chosen by the server name a client asks for (SNI): a
hash reference C<< { 'chat.example.org' => { cert_file => ..., key_file =>
... }, ... } >>. Names match without regard to case, exactly (no wildcard
names; a wildcard certificate is fine). Clients asking for another name, or
for none (as those connecting to an IP address do), get C<ssl_cert_file>,
which must be given too. C<listen> fails when a name is not a DNS name, its
certificate is not valid for it, or a key does not belong to its certificate.

=item ssl_ca_file, ssl_client_cert_optional

Asks clients for a certificate issued by these CAs (mutual TLS); with
C<ssl_client_cert_optional>, clients without one are let in too.

=item send_watermarks

Flow control of every connection, as C<[ $low, $high ]> in bytes (default
C<[ 262144, 1048576 ]>, 256 KiB and 1 MiB). Once more than C<$high> bytes
wait to be sent to a client (its C<buffered_amount>), a send still queues
but marks the connection C<backpressure>d, and the server stops reading
that client after one more message, so TCP pushes back on a client that
sends without reading. When the bytes waiting fall to C<$low>, the
connection's C<on_drain> runs: send again then. C<listen> fails unless
both are byte counts with C<< $low <= $high >> and C<< $high > 0 >>.

=item receive_parts

When true, messages from clients are handed to each connection's
C<on_part> piece by piece as they arrive, instead of whole to C<on_utf8> /
C<on_binary>: a message of any size then passes through bounded memory
(raise C<max_payload_size>, which still limits each message's total).

=item slow_subscriber

What happens to a connection subscribed to a topic (see
L<WebSocket::Connection/TOPICS>) whose send queue cannot take a message
C<publish>ed to it, a client that does not read as fast as the server
publishes: C<'skip'> (the default) it misses the message and stays
subscribed; C<'close'> it is closed with 1008 (C<WS_FORBIDDEN>, "too slow
to take published messages"). C<new> refuses other values.

=item listen

A socket you made and put in the listening state (an L<IO::Socket::INET>,
an L<IO::Socket::SSL> made with C<SSL_startHandshake =E<gt> 0>, ...):
the server serves on it instead of binding C<host> and C<port>. The library
works on a duplicate of its descriptor (you may close yours), but the socket
becomes non-blocking, yours included. For an L<IO::Socket::SSL>, the
certificate and key are its C<SSL_cert_file> and C<SSL_key_file> (or the
C<ssl_cert_file> and C<ssl_key_file> options): the library does the TLS.
C<socket> returns it.

=item connection_class

The class of the connection objects: a subclass of
L<WebSocket::Connection>, loaded already (default
C<WebSocket::Connection>). C<new> refuses anything else.

=item legacy

When true, C<connections> returns a list in scalar context too (so its
count), as older code expects; otherwise a L<WebSocket::Array> there.

=item debug

A level (default 0): 1 and more send the library's log to STDERR (see
C<debug> in L<WebSocket::Object>).

=item watch_readable, watch_writable

Array references of C<< $handle => \&callback >> pairs, as the methods of
the same names take.

=item fatal

When true, failing methods (of the server and its connections) die with
their L<WebSocket::Exception>.

=item blocking

Default 1: C<shutdown> runs the event loop until the connections have
closed. With C<< blocking => 0 >> (or when called from a callback) it
returns at once; the last close then finishes the shutdown and runs
C<on_shutdown>, and C<start>, if running, returns.

=item on_accept, on_connect, on_shutdown, on_tick

The callbacks below.

=back

=head1 CALLBACKS

Each is given at C<new> or set with the method of the same name (which
returns the server, or the callback without an argument). An exception
thrown by a callback propagates out of C<start> or C<poll> after the event
is handled; a request whose C<on_connect> died is refused with 500.

=over 4

=item on_accept(\%args)

A client connected and sent its upgrade request, before C<on_connect>:
C<$args> holds C<server>, C<ip> and C<port> (the client's), C<subprotocol>
(an array reference of the server's) and C<socket>, always C<undef> (the
library owns the sockets). Returning a defined false value refuses the
request with HTTP 403 (e.g. a rate limit by address); other return values
are ignored (the connection's class is C<connection_class>).

=item on_connect($server, $conn)

An upgrade request arrived, as a L<WebSocket::Connection> still in its
handshake: set its callbacks here. Returning a defined false value refuses
it with HTTP 403.

=item on_shutdown($server)

C<shutdown> finished.

=item on_tick($server)

Every C<tick_period> seconds (see the option).

Errors of a connection (a protocol violation, a timeout) go to its own
C<on_error>; see L<WebSocket::Connection>.

=back

=head1 METHODS

=head2 listen

Binds the port now (C<start> does it too). Returns the server, or C<undef>
with C<error> set (address in use, unreadable certificate ...).

=head2 start

Listens if needed, then runs the event loop until C<stop> or C<shutdown>.
Returns the server.

=head2 poll( [$timeout] )

Runs the callbacks of the events already queued (waiting up to C<$timeout>
seconds for one when given), runs C<on_tick> if due, and returns how many
events ran. The event queue is shared by every server and client of the
process.

=head2 event_fd

A file descriptor that is readable while events wait for C<poll>. Only wait
on it; do not read or close it.

=head2 stop, shutdown

Stops listening and closes every connection with 1001 (C<WS_GONE>). When
the close handshakes are done (at most about 6 s: clients that do not answer
are dropped after the 5 s close timeout), it frees the port, calls
C<on_shutdown>, and C<start> returns. It waits for them, running the event
loop, unless C<< blocking => 0 >> or called from a callback.

=head2 connections

The open connections (L<WebSocket::Connection> objects), oldest first: a
list in list context, a L<WebSocket::Array> in scalar context
(C<< $server->connections->length >>, C<< ->for(sub { ... }) >>; it
compares as its length, so C<< $server->connections == 2 >> works), or
the count with C<< legacy => 1 >>.

=head2 watch_readable( $fh => \&callback, ... ), watch_writable( ... )

Watches other file handles (sockets, pipes ...) in the server's loop: while
C<start> runs (or in C<poll>), C<< $callback->($server, $fh) >> runs
whenever C<$fh> is readable (writable). Returns the server. A handle closed
without being unwatched is skipped.

=head2 watched_readable( [$fh] ), watched_writable( [$fh] )

The callback of C<$fh>, or C<undef> when it is not watched; without an
argument, the list of every watched handle and its callback (pairs).

=head2 unwatch_readable( @fhs ), unwatch_writable( @fhs )

Stops watching them. Returns the server.

=head2 socket

The C<listen> option's socket, or C<undef>.

=head2 version, versions

The protocol version, a L<WebSocket::Version> (13); the versions spoken, a
L<WebSocket::Array> of that one.

=head2 extensions, tick_period, silence_max, compression_threshold, debug

The options of the same names (C<compression_threshold>: the process-wide
default when not given). With an argument, set it and return the server:
C<extensions>, C<silence_max> and C<compression_threshold> apply from the
next C<listen>, C<tick_period> from the next tick.

=head2 ip, port

The address given as C<host>, and the port listened on.

=head2 is_ssl

True when the server speaks TLS.

=head2 reload_ssl( cert_file => $file, key_file => $file [, hostname => $name ] )

Replaces the certificate of the listening server (the C<ssl_cert_file> pair,
or with C<hostname> the C<ssl_sni> pair for that name, added when it had
none), e.g. after a renewal. TLS handshakes from now on present the new
pair; connections already open keep theirs. Returns the server, or C<undef>
with C<error> set and the old pair still in use: an unreadable file, no
certificate or key in it, a key that does not belong to the certificate, a
name the certificate is not valid for (C<WS_ERR_TLS>), or a server that is
not listening or not speaking TLS (C<WS_ERR_BAD_STATE>). A later C<listen>
(after C<shutdown>) uses the reloaded files.

=head2 publish($topic, $text), publish_utf8($topic, $text)

Sends a text message to every connection subscribed to C<$topic> (see
L<WebSocket::Connection/TOPICS>), from anywhere: the main program, a timer,
a connection's callback. C<$text> is a character string; it is encoded to
UTF-8. It never blocks: the message is queued to each subscriber, and the
messages published from the Perl thread reach each one in order, after
what was sent to it before. Returns how many subscribers it went to (0 when
the topic has none: a defined false value), or C<undef> with C<error> set:
a bad topic name (C<undef>, empty, over 1024 bytes, a NUL character:
C<WS_ERR_INVALID_ARGUMENT>), text that cannot be UTF-8 (a surrogate:
C<WS_ERR_INVALID_UTF8>), a server that is not listening
(C<WS_ERR_BAD_STATE>). A subscriber too slow to take the message misses
it, or is closed (the C<slow_subscriber> option). Options croak:
publishing takes none.

=head2 publish_binary($topic, $bytes)

The same with a binary message. Croaks if C<$bytes> holds characters above
255.

=head2 subscriber_count($topic)

How many connections are subscribed to C<$topic> (0 when the server is not
listening), or C<undef> with C<error> set for a bad topic name.

=head2 stats

What the server counted since it listened, as a hash reference:
C<connections_open>, C<connections_accepted>; requests refused by reason:
C<refused_full> (503: C<max_connections> reached, or stopping),
C<refused_bad_handshake> (400: not a valid WebSocket upgrade),
C<refused_rejected> (refused by C<on_connect>/C<http_error>),
C<refused_timeout>, C<refused_tls>; and the traffic of all its
connections, closed ones included: C<messages_in>, C<bytes_in>,
C<messages_out>, C<bytes_out>, C<send_queue_high_water> (counted as in
L<WebSocket::Connection/stats>). After C<shutdown> it keeps the last counts;
C<undef> with C<error> set when the server never listened.

=head2 max_payload_size

The largest message accepted.

=head2 error, fatal

The last L<WebSocket::Exception> (as a class method: the one of the last
failed C<new>); the C<fatal> flag.

=head2 on( event => \&callback, ... )

Sets callbacks by event name: C<< $server->on( tick => sub { ... } ) >> is
C<< $server->on_tick( sub { ... } ) >>.

=head1 CALLBACKS AND THE EVENT LOOP

Do not leave a callback with C<exit>, C<last> or C<next> (those would jump
over the library's frames): return from it, call C<stop> or C<shutdown>,
and exit once C<start> has returned. Exceptions (C<die>) are fine. Use the
binding only from the thread that loaded it (other Perl threads get no
copies of its objects, and their calls croak).

=head1 SEE ALSO

L<WebSocket::Connection>, L<WebSocket::Client>, L<WebSocket>.

=cut

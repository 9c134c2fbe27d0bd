package WebSocket::Connection;

use strict;
use warnings;
use Carp ();
use HTTP::Status ();
use JSON::PP ();
use Scalar::Util ();
use URI;
use URI::QueryParam ();
use WebSocket qw( :ws );
use WebSocket::Exception;
use WebSocket::FFI;
use parent 'WebSocket::Endpoint';

our $VERSION = '0.01';

my @EVENTS = qw( handshake origin ready utf8 binary ping pong disconnect error drain part );

# Made by WebSocket::Server for each upgrade request, around its handshake
# handle (valid until the request is answered).
sub _new {
    my ( $class, %args ) = @_;
    my $self = bless {
        state => 'handshake',
        fatal => $args{fatal},
        id    => $args{id},
    }, $class;
    $self->{server} = $args{server};
    Scalar::Util::weaken( $self->{server} );
    my $hs = $self->{hs} = $args{handshake};
    $self->{path}    = WebSocket::FFI::ws_handshake_path($hs)         // '/';
    $self->{query}   = WebSocket::FFI::ws_handshake_query($hs)        // '';
    $self->{peer}    = WebSocket::FFI::ws_handshake_peer_address($hs) // '';
    $self->{secure}  = WebSocket::FFI::ws_handshake_is_secure($hs) > 0;
    $self->{headers} = [
        WebSocket::FFI::header_pairs(
            $hs, \&WebSocket::FFI::ws_handshake_header_count, \&WebSocket::FFI::ws_handshake_header_at
        )
    ];
    my @offered;
    while ( defined( my $p = WebSocket::FFI::ws_handshake_subprotocol_at( $hs, scalar @offered ) ) ) {
        push @offered, $p;
    }
    $self->{offered} = \@offered;
    return $self;
}

# --- Callbacks ------------------------------------------------------------

# on_handshake, on_ready, ...: get the callback, or set it and return the connection.
__PACKAGE__->_callbacks( map {"on_$_"} @EVENTS );

sub _call {
    my ( $self, $event, @args ) = @_;
    my $cb = $self->{"on_$event"} or return;
    return $cb->( $self, @args );
}

# --- The opening handshake -----------------------------------------------

# Runs a handshake-time callback and applies its verdict: a defined false
# return refuses with 403; a refusal the callback tried that failed (an
# http_error with a bad status ...) refuses with 500 rather than letting the
# request in.
sub _judge {
    my ( $self, $run ) = @_;
    my $error_before = Scalar::Util::refaddr( $self->{error} ) // 0;
    my $verdict      = $run->();
    return unless $self->{hs};
    if ( ( Scalar::Util::refaddr( $self->{error} ) // 0 ) != $error_before ) {
        $self->_reject( 500, 'Internal Server Error' );
    }
    elsif ( defined $verdict && !$verdict ) {
        $self->_reject( 403, 'Forbidden' );
    }
    return;
}

# After the server's on_connect: runs on_handshake and on_origin and answers
# the request, unless a callback already did.
sub _decide {
    my ($self) = @_;
    $self->_judge( sub { $self->_call( handshake => $self->handshake ) } );
    $self->_judge( sub { $self->_call( origin => $self->origin, $self->handshake ) } ) if $self->{hs};
    $self->_accept if $self->{hs};
    return;
}

# Accepts with the subprotocol chosen by on_handshake, else the server's
# first one the client offered (the library's rule, applied here so that a
# request is never refused after Perl accepted it). Failures (the request
# timed out while it waited in the queue) go to on_error, never die: they
# are the peer's doing, not a misuse.
sub _accept {
    my ($self) = @_;
    my $choice = $self->{choice};
    my @ours   = $self->{server} ? $self->{server}->_subprotocols : ();
    if ( !defined $choice && @ours && @{ $self->{offered} } ) {
        my %offered = map { $_ => 1 } @{ $self->{offered} };
        ($choice) = grep { $offered{$_} } @ours;
        return $self->_reject( 400, 'none of the subprotocols offered (' . join( ', ', @{ $self->{offered} } )
              . ') is supported (supported: ' . join( ', ', @ours ) . ')' )
          unless defined $choice;
    }
    my $hs = delete $self->{hs};
    WebSocket::FFI::ws_handshake_set_user_data( $hs, $self->{id} );
    if ( WebSocket::FFI::ws_handshake_accept( $hs, $choice ) < 0 ) {
        my ( $code, $message ) = WebSocket::FFI::last_error();
        $self->{state} = 'closed';
        $self->_failed( $code, "accept: $message" );
        return;
    }
    $self->{state} = 'accepted';
    return 1;
}

# Refuses the request. A status the library refuses is the caller's error
# (the request stays open); any other failure (the request timed out while
# it waited in the queue) is the end of it, reported to on_error.
sub _reject {
    my ( $self, $status, $body ) = @_;
    my $hs = $self->{hs} or return $self->_fail( -15, 'the handshake is over' );
    $body = WebSocket::FFI::text_to_utf8( defined $body ? $body : '' );
    my ( $ptr, $len ) = WebSocket::FFI::buffer($body);
    if ( WebSocket::FFI::ws_handshake_reject( $hs, $status, $len ? $ptr : undef, $len ) < 0 ) {
        my ( $code, $message ) = WebSocket::FFI::last_error();
        return $self->_fail( $code, "http_error: $message" ) if $code == WebSocket::FFI::WS_ERR_INVALID_ARGUMENT;
        delete $self->{hs};
        $self->{state} = 'closed';
        $self->_failed( $code, "refuse: $message" );
        return;
    }
    delete $self->{hs};
    $self->{state} = 'closed';
    return $self;
}

# The keys of http_error's named forms.
my %HTTP_ERROR = map { $_ => 1 } qw( code status message headers data );

sub http_error {
    my $self = shift;
    my %o    = _http_error_args(@_);
    if ( my @bad = grep { !$HTTP_ERROR{$_} } sort keys %o ) {
        return $self->_fail( -2, "http_error: unknown option '$bad[0]' (code, status, message, headers, data)" );
    }
    my $code = $o{code} // 400;
    return $self->_fail( -2, "http_error: $code is not an HTTP error status (400-599)" )
      unless $code =~ /\A[45][0-9][0-9]\z/;
    return $self->_fail( -15, 'http_error: the handshake is over' ) unless $self->{hs};
    my @headers = _header_pairs( $o{headers} );
    return $self->_fail( -2, 'http_error: headers must be an array or hash reference, or an HTTP::Headers' )
      unless defined $headers[0] || !@headers;
    my $body = $o{message} // $o{status} // '';
    if ( defined $o{data} ) {
        return $self->_fail( -2, 'http_error: data must be a hash or array reference' ) unless ref( $o{data} ) =~ /\A(?:HASH|ARRAY)\z/;
        $body = JSON::PP->new->canonical->encode( $o{data} );
        push @headers, 'Content-Type' => 'application/json';
    }
    while ( my ( $name, $value ) = splice @headers, 0, 2 ) {
        next if WebSocket::FFI::ws_handshake_add_header( $self->{hs}, $name, $value ) >= 0;
        return $self->_fail_last("http_error: header $name");
    }
    return $self->_reject( $code, $body );
}

# http_error's arguments as options: (), ($code), ($code, $message),
# ($code, $status, $message [, $headers]), ($code, %options),
# ($code, \%options), (%options), (\%options).
sub _http_error_args {
    my @args = @_;
    return %{ $args[0] } if @args == 1 && ref $args[0] eq 'HASH';
    return @args unless @args % 2 == 1 || ( @args && defined $args[0] && !ref $args[0] && $args[0] =~ /\A[0-9]+\z/ );
    my $code = shift @args;
    return ( code => $code, %{ $args[0] } ) if @args == 1 && ref $args[0] eq 'HASH';
    return ( code => $code, message => $args[0] ) if @args == 1;
    return ( code => $code, @args ) if @args % 2 == 0 && @args && !ref $args[0] && $HTTP_ERROR{ $args[0] };
    my %o = ( code => $code );
    @o{qw( status message headers )} = @args;
    return map { defined $o{$_} ? ( $_ => $o{$_} ) : () } keys %o;
}

# Header name => value pairs from an array reference of pairs, a hash
# reference or an HTTP::Headers object; (undef) when it is none of those.
sub _header_pairs {
    my ($headers) = @_;
    return () unless defined $headers;
    return @$headers if ref $headers eq 'ARRAY' && @$headers % 2 == 0;
    return map { ( $_ => $headers->{$_} ) } sort keys %$headers if ref $headers eq 'HASH';
    if ( Scalar::Util::blessed($headers) && $headers->isa('HTTP::Headers') ) {
        my @pairs;
        $headers->scan( sub { push @pairs, @_ } );
        return @pairs;
    }
    return (undef);
}

# --- Events, routed here by WebSocket::Server -----------------------------

sub _opened {
    my ( $self, $conn ) = @_;
    $self->{conn}  = WebSocket::FFI::ws_conn_retain($conn);
    $self->{state} = 'ready';
    my $p = WebSocket::FFI::ws_conn_subprotocol($conn);
    $self->{choice}     = defined $p && length $p ? $p : undef;
    $self->{extensions} = WebSocket::FFI::ws_conn_extensions($conn) // '';
    $self->_sync_auto_pong;
    if ( defined $self->{max_recv_size} ) {
        $self->_fail_last('max_recv_size')
          if WebSocket::FFI::ws_conn_set_max_message_size( $conn, $self->{max_recv_size} ) < 0;
    }
    $self->_call('ready');
}

sub _message {
    my ( $self, $type, $bytes ) = @_;
    if ( $type == WebSocket::FFI::WS_MESSAGE_TEXT ) {
        $self->_call( utf8 => WebSocket::FFI::utf8_to_text($bytes) ) if $self->{on_utf8};
    }
    else {
        $self->_call( binary => $bytes );
    }
}

# Flow control and receiving in parts.
sub _drain {
    my ($self) = @_;
    $self->_backpressure_over;
    $self->_call('drain');
}

sub _part {
    my ( $self, @piece ) = @_;
    $self->_call( part => WebSocket::Endpoint::_part_args(@piece) );
}

sub _failed {
    my ( $self, $status, $message ) = @_;
    $self->{error} = WebSocket::Exception->new( code => $status, message => $message );
    $self->_call( error => $self->{error} );
}

sub _closed {
    my ( $self, $code, $reason ) = @_;
    $self->{state}        = 'closed';
    $self->{close_code}   = $code;
    $self->{close_reason} = WebSocket::FFI::utf8_to_text($reason);
    my $ok = eval { $self->_call( disconnect => $code, $self->{close_reason} ); 1 };
    my $err = $@;
    $self->_forget;
    die $err unless $ok;
}

# Nothing more will happen: drops the callbacks (which often hold the
# connection itself, a cycle that would keep it forever) and the handle.
sub _forget {
    my ($self) = @_;
    delete @$self{ map {"on_$_"} @EVENTS };
    $self->_keep_stats;
    WebSocket::FFI::ws_conn_release( delete $self->{conn} ) if $self->{conn};
}

# --- Sending --------------------------------------------------------------

# During the handshake, refuses the request (403); after, closes at once.
sub shutdown {
    my ($self) = @_;
    return $self->_reject( 403, 'Forbidden' ) if $self->{hs};
    return $self->SUPER::shutdown;
}

sub disconnect {
    my ( $self, $code, $reason ) = @_;
    return $self->_reject( 403, 'Forbidden' ) if $self->{hs};
    return $self->_fail( -8, 'disconnect: the connection is not open' ) unless $self->{conn};
    $code   = WS_OK unless defined $code;
    $reason = ''    unless defined $reason;
    my $bad = WebSocket::FFI::bad_close( $code, $reason );
    return $self->_fail( -2, "disconnect: $bad" ) if $bad;
    my $rc = WebSocket::FFI::ws_conn_close( $self->{conn}, $code, WebSocket::FFI::text_to_utf8($reason) );
    return $self->_fail_last('disconnect') if $rc < 0;
    return $self;
}

# --- Topics -----------------------------------------------------------------

sub subscribe {
    my ( $self, $topic ) = @_;
    my $name = $self->_topic( subscribe => $topic ) // return;
    return $self->_fail( WebSocket::FFI::WS_ERR_NOT_OPEN, 'subscribe: the connection is not open' ) unless $self->{conn};
    return $self->_fail_last('subscribe') if WebSocket::FFI::ws_conn_subscribe( $self->{conn}, $name ) < 0;
    return $self;
}

# A connection that is not open has no topics left to leave: no error.
sub unsubscribe {
    my ( $self, $topic ) = @_;
    my $name = $self->_topic( unsubscribe => $topic ) // return;
    return $self unless $self->{conn};
    return $self->_fail_last('unsubscribe') if WebSocket::FFI::ws_conn_unsubscribe( $self->{conn}, $name ) < 0;
    return $self;
}

sub is_subscribed {
    my ( $self, $topic ) = @_;
    my $name = $self->_topic( is_subscribed => $topic ) // return;
    return 0 unless $self->{conn};
    my $rc = WebSocket::FFI::ws_conn_is_subscribed( $self->{conn}, $name );
    return $self->_fail_last('is_subscribed') if $rc < 0;
    return $rc ? 1 : 0;
}

# --- What the connection is ------------------------------------------------

sub server { $_[0]{server} }

sub is_ready {
    my ($self) = @_;
    return 0 unless $self->{conn} && $self->{state} eq 'ready';
    return WebSocket::FFI::ws_conn_state( $self->{conn} ) == WebSocket::FFI::WS_STATE_OPEN ? 1 : 0;
}

# Host header values that may stand in a URI's authority.
my $AUTHORITY = qr/\A[A-Za-z0-9._~%!\$&'()*+,;=:\[\]-]+\z/;

sub request_uri {
    my ($self) = @_;
    my $host = $self->header('Host');
    $host = 'localhost' unless defined $host && $host =~ $AUTHORITY;
    my $target = length $self->{query} ? "$self->{path}?$self->{query}" : $self->{path};
    return URI->new( ( $self->{secure} ? 'wss' : 'ws' ) . "://$host$target" );
}

sub header {
    my ( $self, $name ) = @_;
    for my $pair ( @{ $self->{headers} } ) {
        return $pair->[1] if lc $pair->[0] eq lc $name;
    }
    return undef;
}

sub headers { map { [@$_] } @{ $_[0]{headers} } }
sub origin {
    my $origin = $_[0]->header('Origin');
    return defined $origin ? URI->new($origin) : undef;
}

# The opening handshake as a WebSocket::Handshake::Server (its request from
# what the client sent), made on first use.
sub handshake {
    my ($self) = @_;
    return $self->{handshake} //= do {
        require WebSocket::Handshake::Server;
        WebSocket::Handshake::Server->new(
            method  => 'GET',
            path    => $self->{path},
            query   => length $self->{query} ? $self->{query} : undef,
            headers => $self->{headers},
            peer    => $self->{peer},
            secure  => $self->{secure},
        ) // $self->_fail( -6, 'handshake: ' . WebSocket::Handshake::Server->error->message );
    };
}

sub metadata {
    my $self = shift;
    return $self->{metadata} unless @_;
    my $data = shift;
    return $self->_fail( -2, 'metadata: expects a hash reference' ) if defined $data && ref $data ne 'HASH';
    $self->{metadata} = $data;
    return $self;
}

sub status_message {
    my ( $self, $code ) = @_;
    return HTTP::Status::status_message($code);
}

sub needs_ssl { $_[0]->is_secure }

sub ip {
    my ($self) = @_;
    my ($ip) = $self->{peer} =~ /\A\[?(.*?)\]?:\d+\z/;
    return $ip;
}

sub port {
    my ($self) = @_;
    my ($port) = $self->{peer} =~ /:(\d+)\z/;
    return $port;
}

sub is_secure { $_[0]{secure} ? 1 : 0 }

sub subprotocols { @{ $_[0]{offered} } }

sub subprotocol {
    my $self = shift;
    return $self->{choice} unless @_;
    return $self->_fail( -15, 'subprotocol: can only be chosen during the handshake' ) unless $self->{hs};
    my $name = shift;
    return $self->_fail( -2, "subprotocol: the client did not offer '$name'" )
      if defined $name && !grep { $_ eq $name } @{ $self->{offered} };
    $self->{choice} = $name;
    return $self;
}

sub extensions { $_[0]{extensions} }

sub max_recv_size {
    my $self = shift;
    unless (@_) {
        return $self->{max_recv_size} if defined $self->{max_recv_size};
        my $server = $self->{server};
        return $server ? $server->max_payload_size : undef;
    }
    my $bytes = shift;
    return $self->_fail( -2, "max_recv_size: not a positive byte count: '" . ( $bytes // 'undef' ) . "'" )
      unless defined $bytes && $bytes =~ /\A[0-9]+\z/ && $bytes > 0;
    if ( $self->{conn} ) {
        return $self->_fail_last('max_recv_size') if WebSocket::FFI::ws_conn_set_max_message_size( $self->{conn}, $bytes ) < 0;
    }
    elsif ( $self->{state} ne 'handshake' && $self->{state} ne 'accepted' ) {
        return $self->_fail( -8, 'max_recv_size: the connection is closed' );
    }
    $self->{max_recv_size} = 0 + $bytes;
    return $self;
}

sub max_send_size {
    my $self = shift;
    return $self->{max_send_size} unless @_;
    my $bytes = shift;
    return $self->_fail( -2, 'max_send_size: not a byte count' ) if defined $bytes && $bytes !~ /\A[0-9]+\z/;
    $self->{max_send_size} = $bytes;
    return $self;
}

sub disconnected { $_[0]{state} eq 'closed' ? 1 : 0 }

sub disconnecting {
    my ($self) = @_;
    return 0 unless $self->{conn} && $self->{state} ne 'closed';
    return WebSocket::FFI::ws_conn_state( $self->{conn} ) == WebSocket::FFI::WS_STATE_CLOSING ? 1 : 0;
}

sub compression_threshold {
    my ($self) = @_;
    my $server = $self->{server};
    return $server ? $server->compression_threshold : WebSocket->compression_threshold;
}

sub close_code   { $_[0]{close_code} }
sub close_reason { $_[0]{close_reason} }

sub DESTROY {
    my ($self) = @_;
    WebSocket::FFI::ws_conn_release( delete $self->{conn} ) if $self->{conn};
}

1;

__END__

=encoding utf8

=head1 NAME

WebSocket::Connection - one client of a WebSocket::Server

=head1 SYNOPSIS

    use WebSocket qw( :ws );
    use WebSocket::Server;

    my $server = WebSocket::Server->new(
        host       => '127.0.0.1',
        port       => 0,
        on_connect => sub {
            my ( $server, $conn ) = @_;
            $conn->on(
                handshake => sub {
                    my ($conn) = @_;
                    return $conn->request_uri->path eq '/chat';    # others get 403
                },
                ready => sub { $_[0]->send_utf8('welcome') },
                utf8  => sub {
                    my ( $conn, $text ) = @_;
                    $conn->send_utf8("you said: $text");
                },
                disconnect => sub {
                    my ( $conn, $code, $reason ) = @_;
                    print "client left with $code\n";
                    $conn->server->shutdown;
                },
            );
        },
    );
    $server->listen or die $server->error;

    # A client in the same program, to show both sides.
    use WebSocket::Client;
    my $client = WebSocket::Client->new( 'ws://127.0.0.1:' . $server->port . '/chat',
        on_utf8 => sub {
            my ( $c, $text ) = @_;
            print "client got: $text\n";
            $text eq 'welcome' ? $c->send_utf8('hi') : $c->disconnect(WS_OK);
        },
    );
    $client->connect or die $client->error;
    $server->start;    # returns after the shutdown

=head1 DESCRIPTION

A L<WebSocket::Server> makes one WebSocket::Connection per upgrade request
and gives it to its C<on_connect> callback, which sets the connection's
callbacks. The object lives from the request through the opening handshake
(when it can still be refused with an HTTP error) to the end of the
connection. Callbacks run on the Perl thread, inside the server's C<start>
or C<poll>.

Errors follow the binding's model: failing methods return C<undef> and set
C<error> to a L<WebSocket::Exception>, or die with it when the server was
made with C<< fatal => 1 >>.

=head1 CALLBACKS

Set them with C<< $conn->on( event => sub { ... }, ... ) >> or with the
C<on_*> method of the same name (which returns the connection, or the
callback without an argument). Each gets the connection first.

=over 4

=item on_handshake($conn, $handshake)

The request arrived (its path, headers and offered subprotocols are
readable; C<$handshake> is the L<WebSocket::Handshake::Server> of
C<handshake>, e.g. C<< $handshake->request->uri->query >>). Returning a defined false value refuses it with HTTP 403;
C<http_error> refuses it with another status; C<subprotocol($name)> chooses
the subprotocol to answer with. When a call made here fails (an
C<http_error> with a status that is not an error ...), the request is refused
with 500 rather than let in.

=item on_origin($conn, $origin, $handshake)

Then, with the C<Origin> header as a L<URI> (C<undef> when the client sent
none, as non-browser clients do) and the handshake. A defined false return refuses the request with
403.

=item on_ready($conn)

The handshake completed; the connection is open.

=item on_utf8($conn, $text), on_binary($conn, $bytes)

A text message (decoded to characters) or a binary message arrived.

=item on_ping($conn, $payload), on_pong($conn, $payload)

A ping or a pong arrived. Without C<on_ping> (and C<do_pong>) the library
answers pings itself, at once. With either set, the binding answers after
C<on_ping> returns: through C<do_pong> (by default C<pong> with the same
payload), or not at all when C<on_ping> returned a defined false value
(C<0>, C<''>).

=item on_drain($conn)

A send had reported backpressure (see C<backpressure>), and the bytes
waiting to be sent have since fallen to the server's low watermark
(C<send_watermarks>): sending may go on. Once per time the high mark was
passed.

=item on_part($conn, $data, \%info)

With the server's C<receive_parts> option, instead of C<on_utf8> and
C<on_binary>: a piece of a message, in order, as it arrives. C<$data> is
characters for a text message (each piece is whole characters), bytes for
a binary one; C<%info> has C<type> (C<'text'> or C<'binary'>), C<first> and
C<last> (true on the message's first and last piece; a one-piece message
has both, and a last piece may be empty) and C<total> (the message's bytes
so far, this piece included; UTF-8 bytes for text).

=item on_error($conn, $exception)

The connection failed (a protocol violation by the client, a timeout, the
client stopped answering the server's keepalive pings); C<on_disconnect>
follows. Also when the request could not be answered any more (it waited
longer than the handshake timeout and the client got 503), or the client
left before the 101 response; then C<on_disconnect> follows only if the
request had been accepted.

=item on_disconnect($conn, $code, $reason)

The connection closed: the client's close code and reason, 1005 when its
close frame had none, 1006 when the connection ended without a close frame.
It also comes for an accepted request closed before it was ready (by a
shutdown at that moment), without C<on_ready>. It is the last callback:
afterwards the connection forgets its callbacks
(so callbacks that refer to C<$conn> do not keep it alive) and its handle.

=back

=head1 TOPICS

Publish and subscribe, for chat rooms, live feeds and dashboards: a
connection subscribes to topics by name, and the server's C<publish> sends
a message to every connection subscribed to a topic. The message is
encoded once and shared by all of them (and compressed once for clients
that agreed on permessage-deflate without context takeover), so a message
to thousands costs little more than a message to one. A chat room, where
what a member says goes to everyone in its room, the member included:

    use WebSocket::Server;

    my $server = WebSocket::Server->new(
        host       => '127.0.0.1',
        port       => 0,
        on_connect => sub {
            my ( $server, $conn ) = @_;
            my ($room) = $conn->request_uri->path =~ m{\A/room/(\w+)\z} or return 0;    # 403
            $conn->on(
                ready => sub { $_[0]->subscribe("room:$room") },
                utf8  => sub {
                    my ( $conn, $text ) = @_;
                    $conn->server->publish( "room:$room", $conn->port . ": $text" );
                },
            );
        },
    );
    $server->listen or die $server->error;
    # ws://127.0.0.1:PORT/room/lobby and /room/games are two rooms; from
    # outside the callbacks too:
    # $server->publish( 'room:lobby', 'the server says hello' );
    # $server->subscriber_count('room:lobby');

Closing leaves every topic. What happens to a client too slow to take what
is published (its send queue is full) is the server's C<slow_subscriber>
option: it misses the message, or it is closed with 1008.

=head1 METHODS

=head2 send($type, $data, %options), send($text, %options)

C<$type> is C<'text'> (or C<'utf8'>), C<'binary'>, C<'ping'> or C<'pong'>;
the same as the methods below (pings and pongs take no options: croaks).
Without a type (an odd number of arguments: the text, then option pairs),
C<send_utf8>.

=head2 send_utf8($text, %options), send_binary($bytes, %options), ping($payload), pong($payload)

Queue a message or control frame. Return the connection, or C<undef> with
C<error> set (not open, the send queue is full, larger than
C<max_send_size>, a control payload over 125 bytes ...). C<send_binary>
croaks on characters above 255. A send that leaves more than the server's
high watermark waiting still queues and returns the connection, and
C<backpressure> becomes true: stop sending until C<on_drain>. The options
of a message (unknown ones croak):

=over 4

=item compress => 1 or 0

Compress this message, or not, whatever its size and the
C<compression_threshold> (when permessage-deflate is in use; otherwise it
goes uncompressed anyway).

=back

=head2 start_message($type, %options)

Opens a message to be sent in parts, of C<$type> C<'text'> (or C<'utf8'>)
or C<'binary'>, with the options of C<send_utf8> for the whole message.
Its size is not known when it starts, so with permessage-deflate it is
compressed only when C<compress =E<gt> 1> asks for it.
Returns a L<WebSocket::Message>: give it the parts with C<send> and end it
with C<finish>. C<undef> with C<error> set when another message in parts is
open (C<WS_ERR_BAD_STATE>), the connection is not open, or for another
type.

=head2 subscribe($topic)

Subscribes the connection to C<$topic>, a name of 1 to 1024 bytes (a
character string; it is encoded to UTF-8): from now on it gets the
messages the server C<publish>es to that topic (see L</TOPICS>). Topics are
the server's own: other servers' connections do not share them.
Subscribing again is no error. Returns the connection, or C<undef> with
C<error> set: a bad name (C<WS_ERR_INVALID_ARGUMENT>), a connection that is
not open, still in its handshake (subscribe from C<on_ready> on) or closed
(C<WS_ERR_NOT_OPEN>). A connection leaves all its topics when it closes.

=head2 unsubscribe($topic)

Unsubscribes the connection from C<$topic>. Returns the connection (also
when it was not subscribed, or is not open), or C<undef> with C<error> set
for a bad name.

=head2 is_subscribed($topic)

1 when the connection is subscribed to C<$topic>, 0 when not (always 0
when it is not open), C<undef> with C<error> set for a bad name.

=head2 buffered_amount

Bytes queued on the connection and not yet written to its socket (0 when
not open), as the browser's C<bufferedAmount>.

=head2 backpressure

True from a send that reported backpressure (more than the high watermark
waited) until C<on_drain>.

=head2 do_pong( [\&callback] )

The callback that answers a ping, C<< $callback->($conn, $payload) >>
(C<undef>: C<pong> with the payload); with an argument, sets it and returns
the connection. Setting one makes the binding answer pings (see
C<on_ping>).

=head2 shutdown

After the handshake: closes the connection at once, without the close
handshake (the client sees the TCP connection end; C<on_disconnect> follows
with 1006). During the handshake: refuses the request with 403. Returns the
connection, or C<undef> with C<error> set when it is closed already.

=head2 disconnect( [$code = WS_OK, $reason = ''] )

After the handshake: starts the close handshake (it does not wait; see
C<on_disconnect>). During the handshake: refuses the request with 403.

=head2 http_error( ... )

During the handshake only: refuses the request with an HTTP error status
(400-599; default 400). The forms:

    $conn->http_error( 426 );
    $conn->http_error( 426, 'Upgrade with version 13' );          # the body
    $conn->http_error( 426, 'Upgrade Required', 'Oh no!', [ 'X-Why' => 'old' ] );
    $conn->http_error( 400, message => 'You missed something', headers => { 'X-A' => 1 } );
    $conn->http_error( 400, { status => 'Bad Request', message => '...' } );
    $conn->http_error( code => 400, data => { error => 'no token' } );   # a JSON body
    $conn->http_error( { code => 400, message => '...' } );

The options: C<code>; C<status>, the reason phrase (the status line always
carries the standard one; C<status> is the body when there is no
C<message>); C<message>, the body (text/plain); C<headers>, an array
reference of name => value pairs, a hash reference or an L<HTTP::Headers>;
C<data>, a hash or array reference sent as a JSON body instead
(C<application/json>). Returns the connection, or C<undef> with C<error>
set (not an error status, an unknown option, a header the library writes
itself such as C<Connection>, or the handshake is over).

=head2 is_ready

True while the connection is open.

=head2 request_uri

The requested URI, as an absolute L<URI> object: C<ws://> (C<wss://> over
TLS), the C<Host> header, then the path and query
(C<ws://example.com:8080/chat?room=1>). C<< ->path >> and C<< ->query >>
give the parts; C<< ->query_param('room') >> one parameter.

=head2 header($name), headers

One request header (case-insensitive; C<undef> when absent), or all of them
as C<[name, value]> pairs in the order received.

=head2 origin

The C<Origin> header as a L<URI> object, or C<undef> when there is none.

=head2 handshake

The opening handshake, as a L<WebSocket::Handshake::Server>: its
C<request> (a L<WebSocket::Request>: C<< ->uri >>, C<< ->origin >>,
C<< ->headers >>, C<< ->cookies >>, C<< ->version >> ...) is what the client
sent. C<on_handshake> and C<on_origin> get it too.

=head2 metadata( [\%data] )

A hash reference of your own, kept with the connection (C<undef> until
set); with an argument, sets it and returns the connection.

=head2 status_message($code)

The standard reason phrase of an HTTP status code (C<Forbidden> for 403).

=head2 needs_ssl

True when the connection came over TLS (the library has done the TLS
handshake before the connection object exists; the same as C<is_secure>).

=head2 ip, port

The client's address and port.

=head2 subprotocols

The subprotocols the client offered, in its order.

=head2 subprotocol( [$name] )

Without an argument: the subprotocol in use (or chosen so far). With one,
during the handshake: answer with C<$name>, which the client must have
offered. Without a choice, the server's C<subprotocol> list decides.

=head2 extensions

C<"permessage-deflate..."> when compression was negotiated, C<""> otherwise.

=head2 is_secure

True over TLS (wss://).

=head2 max_recv_size( [$bytes] )

The largest message accepted from this client: the server's
C<max_payload_size> unless set here. With an argument (during the handshake
or later), sets it for the messages that start afterwards and returns the
connection; a message over it closes the connection with 1009.

=head2 max_send_size( [$bytes] )

The largest message C<send_*> accepts (C<undef> or 0: no limit other than
the send queue); sets it with an argument and returns the connection.

=head2 disconnected, disconnecting

True once the connection has closed (or its request was refused); true
while its close handshake is under way.

=head2 compression_threshold

The server's C<compression_threshold>.

=head2 close_code, close_reason

After the connection closed: the client's close code and reason.

=head2 id

The connection's id: a number unique in the process, the C<$conn_id> of the
log lines about it (see L<WebSocket/log_callback>); C<undef> before it
opened.

=head2 stats

What the connection carried, as a hash reference: C<id>, C<messages_in>,
C<bytes_in>, C<messages_out>, C<bytes_out>, C<send_queue_high_water>.
Messages are whole messages (control frames are not counted), bytes their
payload as the application sees it (before compression going out, after
decompression coming in); a message sent counts once the library's I/O
thread took it. After the close it keeps answering with the final counts.
C<undef> with C<error> set before the connection opened.

=head2 server, error, fatal

The server; the last L<WebSocket::Exception>; the C<fatal> flag.

=head1 SEE ALSO

L<WebSocket::Server>, L<WebSocket::Client>, L<WebSocket>.

=cut

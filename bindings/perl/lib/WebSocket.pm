package WebSocket;

use strict;
use warnings;
use Exporter 'import';

our $VERSION = '0.01';

use constant {
    WS_OK                       => 1000,
    WS_GONE                     => 1001,
    WS_PROTOCOL_ERROR           => 1002,
    WS_NOT_ACCEPTABLE           => 1003,
    WS_NO_STATUS                => 1005,
    WS_CLOSED_ABNORMALLY        => 1006,
    WS_BAD_MESSAGE              => 1007,
    WS_FORBIDDEN                => 1008,
    WS_MESSAGE_TOO_LARGE        => 1009,
    WS_EXTENSIONS_NOT_AVAILABLE => 1010,
    WS_INTERNAL_SERVER_ERROR    => 1011,
    WS_TLS_HANDSHAKE_FAIL       => 1015,
};

use constant {
    WS_LOG_ERROR => 1,
    WS_LOG_WARN  => 2,
    WS_LOG_INFO  => 3,
    WS_LOG_DEBUG => 4,
};
our @LOG_CONSTANTS = qw( WS_LOG_ERROR WS_LOG_WARN WS_LOG_INFO WS_LOG_DEBUG );

our @WS_CONSTANTS = qw(
  WS_OK WS_GONE WS_PROTOCOL_ERROR WS_NOT_ACCEPTABLE WS_NO_STATUS
  WS_CLOSED_ABNORMALLY WS_BAD_MESSAGE WS_FORBIDDEN WS_MESSAGE_TOO_LARGE
  WS_EXTENSIONS_NOT_AVAILABLE WS_INTERNAL_SERVER_ERROR WS_TLS_HANDSHAKE_FAIL
);
our @EXPORT_OK   = ( @WS_CONSTANTS, @LOG_CONSTANTS );
our %EXPORT_TAGS = ( ws => [@WS_CONSTANTS], log => [@LOG_CONSTANTS], all => [ @WS_CONSTANTS, @LOG_CONSTANTS ] );

my $compression_threshold = 10240;

sub compression_threshold {
    my $class = shift;
    if (@_) {
        my $bytes = shift;
        require WebSocket::Exception;
        die WebSocket::Exception->new( code => -2,
            message => 'compression_threshold: not a byte count: ' . ( defined $bytes ? $bytes : 'undef' ) )
          unless defined $bytes && $bytes =~ /\A[0-9]+\z/;
        require WebSocket::FFI;
        die WebSocket::Exception->new( code => WebSocket::FFI::ws_last_error_code(),
            message => 'compression_threshold: ' . WebSocket::FFI::ws_last_error_message() )
          if WebSocket::FFI::ws_set_compression_threshold($bytes) < 0;
        $compression_threshold = $bytes;
    }
    return $compression_threshold;
}

sub new {
    my $class = shift;
    return bless {@_}, ref $class || $class;
}

sub client {
    my $class = shift;
    require WebSocket::Client;
    return WebSocket::Client->new(@_);
}

sub server {
    my $class = shift;
    require WebSocket::Server;
    return WebSocket::Server->new(@_);
}

sub library_version {
    require WebSocket::FFI;
    return WebSocket::FFI::ws_version();
}

sub log_callback {
    my $class = shift;
    require WebSocket::Log;
    return WebSocket::Log->callback unless @_;
    WebSocket::Log->set(@_);
    return $class;
}

1;

__END__

=head1 NAME

WebSocket - WebSocket client and server for Perl over libwebsocket

=head1 SYNOPSIS

    use WebSocket qw( :ws );

    print WS_OK, "\n";                          # 1000
    WebSocket->compression_threshold(4096);     # compress messages >= 4 KiB

    # build/echo_server listens on 127.0.0.1:9001 by default
    my $client = WebSocket->client( 'ws://127.0.0.1:9001/', timeout => 5 );
    $client->on_utf8( sub {
        my ( $c, $text ) = @_;
        print "received: $text\n";
        $c->disconnect(WS_OK);
    } );
    $client->connect or die "cannot connect: ", $client->error, "\n";
    $client->send_utf8('hello');
    $client->start;                             # until disconnected

=head1 DESCRIPTION

A Perl binding, written with L<FFI::Platypus>, over libwebsocket: the Rust
WebSocket library (RFC 6455, permessage-deflate RFC 7692, TLS) of this source
tree, with its C ABI (C<include/websocket.h>). Its API follows the CPAN
C<WebSocket> distribution: L<WebSocket::Client> for clients,
L<WebSocket::Server> and L<WebSocket::Connection> for servers,
L<WebSocket::Frame> to build and parse frames yourself,
L<WebSocket::Exception> for errors and this module for the close-code
constants and library-wide settings.

The library runs its I/O on its own thread, but never calls into Perl from
it: events are queued, and the callbacks you give run on your thread when
you call a client's or server's C<connect>, C<start> or C<poll> (or the event loop of
your choice wakes up on C<event_fd>).

The library is found through C<$ENV{LIBWEBSOCKET_PATH}> (the path of
C<libwebsocket.so>), else in the build tree this module belongs to
(C<target/release/libwebsocket.so>, built by C<make>), else by the system's
loader under the name C<libwebsocket.so>.

=head2 fork

Preforking servers work: fork before using the library, or in each child
use only objects made after the fork. A child starts the library's I/O
thread and event queue of its own on first use. A client, server or
connection object the parent made fails in the child with code C<-15>
(C<WS_ERR_BAD_STATE>) and the message "this handle belongs to the parent
process": it croaks under C<fatal>, else the method returns undef (or an
empty list) and C<error> holds the L<WebSocket::Exception>. Letting such
an object go out of scope in the child is safe: it is only forgotten (its
memory and sockets stay with the child until it exits).

    # Three workers, each with a server of its own.
    for my $port ( 9001 .. 9003 ) {
        next if fork;
        WebSocket::Server->new( port => $port, on_connect => \&serve )->start;
        exit;
    }

=head1 CONSTANTS

Exported on request, each by name or with the tags C<:ws> (close codes),
C<:log> (log levels) or C<:all>:

    WS_OK                        1000  normal closure
    WS_GONE                      1001  going away
    WS_PROTOCOL_ERROR            1002
    WS_NOT_ACCEPTABLE            1003  unacceptable data type
    WS_NO_STATUS                 1005  close frame without a code (never sent)
    WS_CLOSED_ABNORMALLY         1006  no close frame at all (never sent)
    WS_BAD_MESSAGE               1007  e.g. text that is not UTF-8
    WS_FORBIDDEN                 1008  policy violation
    WS_MESSAGE_TOO_LARGE         1009
    WS_EXTENSIONS_NOT_AVAILABLE  1010
    WS_INTERNAL_SERVER_ERROR     1011
    WS_TLS_HANDSHAKE_FAIL        1015  TLS failed (never sent)

    WS_LOG_ERROR                 1     log levels, see log_callback
    WS_LOG_WARN                  2
    WS_LOG_INFO                  3
    WS_LOG_DEBUG                 4

=head1 CLASS METHODS

=head2 compression_threshold( [$bytes] )

Gets or sets the library-wide default size from which messages are
compressed when permessage-deflate is in use (default 10240). Setting it
applies to clients and servers created afterwards; each may override it with
its own C<compression_threshold> option. Dies with a L<WebSocket::Exception> on a
value that is not a byte count.

=head2 new( %options )

An object to call C<client> and C<server> on (they also work as class
methods); it holds the options given, for programs that keep settings in it.

=head2 client( $uri, %options )

Shortcut for C<< WebSocket::Client->new( $uri, %options ) >>.

=head2 server( %options )

Shortcut for C<< WebSocket::Server->new( %options ) >>.

=head2 library_version

The version of the loaded libwebsocket, e.g. C<"0.1.0">.

=head2 log_callback( [ $code [, $min_level = 'info' ] ] )

Sends the library's log lines of C<$min_level> (C<'error'>, C<'warn'>,
C<'info'>, C<'debug'>, any case, or a C<WS_LOG_*> constant) and more severe
to C<< $code->( $level, $conn_id, $text ) >>; C<undef> turns the log off
(the default). C<$level> is the number that reads as its name, C<$conn_id>
the C<id> of the connection the line is about (0 for none). The sub runs on
your thread, inside the same dispatch as the other callbacks and in order
with them. Returns the class; without arguments, returns the sub set (or
C<undef>). Dies with a L<WebSocket::Exception> for an unknown level. See
L<WebSocket::Log> for what is logged and when lines are dropped.

    WebSocket->log_callback( sub { warn "[$_[0]] #$_[1] $_[2]\n" }, 'debug' );

=head1 SEE ALSO

L<WebSocket::Client>, L<WebSocket::Server>, L<WebSocket::Connection>,
L<WebSocket::Message>, L<WebSocket::Frame>, L<WebSocket::Exception>,
L<WebSocket::Log>.

=cut

package WebSocket::Log;

use strict;
use warnings;
use Carp ();
use Scalar::Util ();
use WebSocket qw( :log );
use WebSocket::Exception;
use WebSocket::FFI;

our $VERSION = '0.01';

my @NAMES;
@NAMES[ WS_LOG_ERROR, WS_LOG_WARN, WS_LOG_INFO, WS_LOG_DEBUG ] = qw( error warn info debug );
my %NUMBERS = ( ( map { $NAMES[$_] => $_ } WS_LOG_ERROR .. WS_LOG_DEBUG ), warning => WS_LOG_WARN );

my $current;    # the WebSocket::Log object whose sub gets the lines

# The level named by a name (any case) or a number from 1 to 4; undef otherwise.
sub level_number {
    my ($level) = @_;
    return undef unless defined $level;
    return $level + 0 if $level =~ /\A[1-4]\z/;
    return $NUMBERS{ lc $level };
}

# The level numbered $n as a dualvar: the number, and its lowercase name.
sub level {
    my ($n) = @_;
    return Scalar::Util::dualvar( $n, $NAMES[$n] // 'unknown' );
}

sub callback { $current ? $current->{code} : undef }

sub set {
    my ( $class, $code, $min_level ) = @_;
    WebSocket::FFI::check_thread();
    my $fail = sub { die WebSocket::Exception->new( code => $_[0], message => "log_callback: $_[1]" ) };
    if ( !defined $code ) {
        $fail->( WebSocket::FFI::last_error() ) if WebSocket::FFI::ws_set_log_callback( undef, undef, 0 ) < 0;
        _forget();
        return;
    }
    $fail->( WebSocket::FFI::WS_ERR_INVALID_ARGUMENT, 'not a code reference' ) unless ref $code eq 'CODE';
    my $n = level_number( $min_level // 'info' )
      // $fail->( WebSocket::FFI::WS_ERR_INVALID_ARGUMENT, "unknown level '$min_level' (use error, warn, info or debug)" );
    $fail->( WebSocket::FFI::last_error() )
      if WebSocket::FFI::ws_set_log_dispatch( WebSocket::FFI::WS_DISPATCH_POLL ) < 0;
    my $self = bless { code => $code }, $class;
    $self->{id} = WebSocket::FFI::register($self);
    if ( WebSocket::FFI::ws_set_log_callback( WebSocket::FFI::log_callback_pointer(), $self->{id}, $n ) < 0 ) {
        my @why = WebSocket::FFI::last_error();
        WebSocket::FFI::unregister( $self->{id} );
        $fail->(@why);
    }
    _forget();
    $current = $self;
    return;
}

# Drops the previous sub (the library no longer delivers its lines).
sub _forget {
    my $old = $current or return;
    undef $current;
    WebSocket::FFI::unregister( $old->{id} );
}

# A log line, delivered by WebSocket::FFI inside ws_dispatch.
sub _ws_log {
    my ( $self, $level, $conn_id, $text ) = @_;
    $self->{code}->( level($level), $conn_id, WebSocket::FFI::utf8_to_text($text) );
}

1;

__END__

=head1 NAME

WebSocket::Log - the library's log, delivered to a Perl sub

=head1 SYNOPSIS

    use WebSocket qw( :log );

    WebSocket->log_callback( sub {
        my ( $level, $conn_id, $text ) = @_;
        printf STDERR "[%s] %s%s\n", $level, $conn_id ? "#$conn_id " : '', $text;
    }, 'info' );                        # or WS_LOG_INFO
    ...
    WebSocket->log_callback(undef);     # silent again (the default)

=head1 DESCRIPTION

libwebsocket logs what happens to its listeners and connections: listening,
each request refused and why, each connection opened (with the peer,
subprotocol and extensions) and closed (with the code, reason and who
closed), failures, and at the C<debug> level per-connection detail. It never
logs one line per message at C<info> or above.

The lines are queued with the events (the library's C<WS_DISPATCH_POLL>
log mode), so the sub runs on the Perl thread, inside the same dispatch as
the callbacks of clients and servers (their C<connect>, C<start>, C<poll>,
or your event loop waking on C<event_fd>), in order with them. An exception
it throws is rethrown there, like one of any callback. When Perl does not
dispatch for a long time, lines that find no room in the queue are dropped
(logging never holds the library up): the next line delivered then comes
after a C<warn> line saying how many were dropped.

This module is used through L<WebSocket>; its class method is the API.

=head1 LEVELS

Given by name (any case) or constant (exported by L<WebSocket> with C<:log>):

    error  WS_LOG_ERROR  1  a library bug caught, accepting failing
    warn   WS_LOG_WARN   2  a connection failed (protocol error, timeout, TLS)
    info   WS_LOG_INFO   3  listening, refused, opened, closed
    debug  WS_LOG_DEBUG  4  per-connection detail

A sub set for a level gets that level and the more severe ones. The
C<$level> it gets is a dual value: the number (compare it with the
constants) that reads as the name (C<"info">).

=head1 METHODS

=head2 WebSocket::Log->set( $code, [$min_level = 'info'] )

What C<< WebSocket->log_callback >> calls: sets the sub that gets the lines
of C<$min_level> and above, called as C<< $code->( $level, $conn_id, $text ) >>:
C<$conn_id> is the C<id> of the connection the line is about
(L<WebSocket::Connection/id>, L<WebSocket::Client/id>), 0 for none (e.g.
listening, or a refused request). C<undef> turns the log off; the lines
queued for the previous sub are dropped. Dies with a L<WebSocket::Exception>
for an unknown level or what is not a code reference.

=head2 WebSocket::Log->callback

The sub set, or C<undef>.

=head2 level_number($level)

The number of a level given by name or number, C<undef> for anything else.

=head2 level($n)

The level numbered C<$n> as the dual value the sub gets.

=head1 SEE ALSO

L<WebSocket>, C<ws_set_log_callback> and C<ws_set_log_dispatch> in
C<include/websocket.h>.

=cut

package WebSocket::Endpoint;

# Internal: what a client and a server's connection share: sending on the
# library's connection handle ($self->{conn}).

use strict;
use warnings;
use Carp ();
use WebSocket::FFI;
use parent 'WebSocket::Object';

our $VERSION = '0.01';

# Hands $bytes to the C sender $fn (ws_conn_send_text ...); the object, or
# undef with error set. Refuses messages over max_send_size when one is set.
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
    return $self->_fail_last($what) if $fn->( $self->{conn}, $ptr, $len ) < 0;
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

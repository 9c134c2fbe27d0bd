package WebSocket::Message;

use strict;
use warnings;
use WebSocket::FFI;

our $VERSION = '0.01';

# Made by start_message of a WebSocket::Client or WebSocket::Connection
# (the endpoint), once the message's (empty) first part is queued.
sub _new {
    my ( $class, $endpoint, $kind ) = @_;
    return bless { endpoint => $endpoint, kind => $kind, open => 1 }, $class;
}

sub send {
    my ( $self, $data ) = @_;
    return $self->_part( send => $data, WebSocket::FFI::WS_SEND_CONTINUATION | WebSocket::FFI::WS_SEND_MORE );
}

sub finish {
    my ( $self, $data ) = @_;
    $self->_part( finish => $data, WebSocket::FFI::WS_SEND_CONTINUATION ) or return;
    delete $self->{open};
    return $self;
}

sub is_open { $_[0]{open} ? 1 : 0 }
sub type    { $_[0]{kind} == WebSocket::FFI::WS_MESSAGE_TEXT ? 'text' : 'binary' }
sub error   { $_[0]{endpoint}->error }

# Queues a further part with the WS_SEND_* $flags, unless the message is
# finished (then another message in parts may be open: the part must not
# go into it).
sub _part {
    my ( $self, $what, $data, $flags ) = @_;
    my $endpoint = $self->{endpoint};
    return $endpoint->_fail( WebSocket::FFI::WS_ERR_BAD_STATE, "$what: the message is finished" ) unless $self->{open};
    my $bytes = $self->{kind} == WebSocket::FFI::WS_MESSAGE_TEXT ? WebSocket::FFI::text_to_utf8($data)
      : defined $data ? $data
      :                 '';
    $endpoint->_send_message( $what, $self->{kind}, $bytes, $flags ) or return;
    return $self;
}

1;

__END__

=encoding utf8

=head1 NAME

WebSocket::Message - a message sent in parts

=head1 SYNOPSIS

    # $conn is a WebSocket::Connection (or a WebSocket::Client)
    my $msg = $conn->start_message( 'binary', compress => 1 ) or die $conn->error;
    while ( read( $fh, my $chunk, 65536 ) ) {
        $msg->send($chunk) or die $msg->error;
    }
    $msg->finish or die $msg->error;    # the peer now gets the whole file as one message

=head1 DESCRIPTION

One WebSocket message whose data is given a part at a time, so that it need
not be in memory at once, made by C<start_message> of a
L<WebSocket::Connection> or L<WebSocket::Client>. Each part becomes a frame
of the message and goes out as soon as the connection can send it; the
peer receives one message. Nothing goes between the frames: messages sent
on the connection while one is in parts wait until it is finished.

A connection has at most one message in parts at a time: C<start_message>
fails (C<WS_ERR_BAD_STATE>, -15) while another one is open. Finish every
message you start: one left open holds back every later message of the
connection until it closes. Closing the connection meanwhile sends the
close after the parts given so far (the peer sees the message end
unfinished).

Errors follow the endpoint's model: a failing method returns C<undef> and
sets the endpoint's C<error> (also readable here), or dies with it when the
endpoint is C<fatal>.

=head1 METHODS

=head2 send($data)

Queues a part: for a text message a character string (encoded to UTF-8;
each part is whole characters), for a binary one bytes (croaks on
characters above 255). Returns the message, or C<undef> with C<error> set:
not open, the send queue is full, larger than C<max_send_size> (which
applies to each part), or the message is finished (C<WS_ERR_BAD_STATE>).
A send that reports backpressure still returns the message; see
C<backpressure> and C<on_drain> of the endpoint.

=head2 finish( [$data] )

Queues the last part (C<$data> may be omitted or empty) and finishes the
message. Returns the message, or C<undef> with C<error> set (the message
stays open when the part could not be queued).

=head2 is_open

True until C<finish> succeeded.

=head2 type

C<'text'> or C<'binary'>.

=head2 error

The endpoint's last L<WebSocket::Exception>.

=head1 SEE ALSO

L<WebSocket::Connection>, L<WebSocket::Client>.

=cut

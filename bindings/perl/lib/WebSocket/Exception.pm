package WebSocket::Exception;

use strict;
use warnings;
use overload '""' => sub { $_[0]->message }, fallback => 1;

our $VERSION = '0.01';

sub new {
    my ( $class, %args ) = @_;
    return bless {
        code    => $args{code},
        message => defined $args{message} ? $args{message} : 'unknown error',
    }, ref $class || $class;
}

sub code    { $_[0]{code} }
sub message { $_[0]{message} }

1;

__END__

=head1 NAME

WebSocket::Exception - an error of the libwebsocket Perl binding

=head1 SYNOPSIS

    use WebSocket::Client;
    my $client = WebSocket::Client->new('ws://127.0.0.1:1/');
    unless ( $client->connect ) {
        my $e = $client->error;            # a WebSocket::Exception
        printf "failed (%d): %s\n", $e->code, $e->message;
        print "same text: $e\n";           # stringifies to the message
    }

=head1 DESCRIPTION

Methods of the binding that fail return C<undef> (or an empty list in list
context) and keep the reason as a C<WebSocket::Exception>, readable with their
object's C<error> method. With C<< fatal => 1 >> they C<die> with it instead.

An exception stringifies to its message, so C<"$e"> and C<< $e =~ /refused/ >>
work as for a plain error string.

=head1 METHODS

=head2 new( code => $code, message => $message )

Creates an exception.

=head2 code

A negative libwebsocket status (C<-5> connect failed, C<-6> handshake
failed, C<-8> not open, C<-17> TLS, ...: see C<WS_ERR_*> in
C<include/websocket.h>) or, for a connection closed by the peer with an
error, the close code.

=head2 message

The human-readable reason, as given by the library.

=cut

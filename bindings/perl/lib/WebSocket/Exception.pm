package WebSocket::Exception;

use strict;
use warnings;
use overload '""' => sub { $_[0]->message }, fallback => 1;

our $VERSION = '0.01';

# new(code => ..., message => ...), new({ ... }), or new($message).
sub new {
    my $class = shift;
    my %args  = @_ == 1 && ref $_[0] eq 'HASH' ? %{ $_[0] } : @_ == 1 ? ( message => $_[0] ) : @_;
    my ( $file, $line ) = _where();
    return bless {
        code    => $args{code},
        message => defined $args{message} ? $args{message} : 'unknown error',
        file    => $args{file} // $file,
        line    => $args{line} // $line,
    }, ref $class || $class;
}

# The file and line of the first caller outside the binding's modules.
sub _where {
    for ( my $level = 1 ; my ( $package, $file, $line ) = caller($level) ; $level++ ) {
        return ( $file, $line ) unless $package =~ /\AWebSocket(?:::|\z)/;
    }
    my ( undef, $file, $line ) = caller(1);
    return ( $file, $line );
}

sub code    { $_[0]{code} }
sub message { $_[0]{message} }
sub file    { $_[0]{file} }
sub line    { $_[0]{line} }

sub as_string {
    my ($self) = @_;
    return defined $self->{file} ? "$self->{message} at $self->{file} line $self->{line}." : $self->{message};
}

# As a class method, makes an exception from its arguments and dies with it;
# as an instance method, dies with the exception.
sub throw {
    my $self = shift;
    die( ref $self ? $self : $self->new(@_) );
}

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

=head2 new( code => $code, message => $message ), new( { ... } ), new( $message )

Creates an exception. It remembers where: the file and line of the first
caller outside the binding (or C<file> and C<line> given as arguments).

=head2 code

A negative libwebsocket status (C<-5> connect failed, C<-6> handshake
failed, C<-8> not open, C<-17> TLS, ...: see C<WS_ERR_*> in
C<include/websocket.h>) or, for a connection closed by the peer with an
error, the close code.

=head2 message

The human-readable reason, as given by the library.

=head2 file, line

Where the exception was made: the application's file and line that called
the binding (or that called C<new> / C<throw>).

=head2 as_string

The message followed by C<at FILE line N.>, as Perl's own errors read.

=head2 throw( ... )

As a class method, C<< WebSocket::Exception->throw( code => -2, message => '...' ) >>
makes an exception (the same arguments as C<new>) and dies with it. As an
instance method, dies with the exception.

=cut

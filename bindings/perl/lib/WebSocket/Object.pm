package WebSocket::Object;

# Internal: what the binding's classes share: the error model (error, fatal,
# _fail, _fail_last), callback accessors, and the rule that a new Perl thread
# gets no copy of an object that owns C handles.

use strict;
use warnings;
use Carp ();
use WebSocket::Exception;
use WebSocket::FFI;

our $VERSION = '0.01';

sub error { $_[0]{error} }

sub fatal {
    my $self = shift;
    return $self->{fatal} unless @_;
    $self->{fatal} = shift;
    return $self;
}

# The C handles are owned by the interpreter that made them: a thread's copy
# of the object must not free them again.
sub CLONE_SKIP { 1 }

# Records an error (code, message), dies with it under fatal, else returns
# undef / an empty list.
sub _fail {
    my ( $self, $code, $message ) = @_;
    $self->{error} = WebSocket::Exception->new( code => $code, message => $message );
    die $self->{error} if $self->{fatal};
    return;
}

# _fail with the library's last error, its message prefixed with $what.
sub _fail_last {
    my ( $self, $what ) = @_;
    my ( $code, $message ) = WebSocket::FFI::last_error();
    return $self->_fail( $code, defined $what ? "$what: $message" : $message );
}

# Makes, in the calling class, one accessor per name (on_connect, ...): it
# returns the callback, or sets it (a code reference or undef) and returns
# the object.
sub _callbacks {
    my ( $class, @names ) = @_;
    for my $name (@names) {
        no strict 'refs';
        *{"${class}::$name"} = sub {
            my $self = shift;
            return $self->{$name} unless @_;
            my $cb = shift;
            Carp::croak("$name: not a code reference") if defined $cb && ref $cb ne 'CODE';
            $self->{$name} = $cb;
            return $self;
        };
    }
    return;
}

1;

__END__

=head1 NAME

WebSocket::Object - internal: the error model shared by the WebSocket classes

=head1 SYNOPSIS

    package My::Thing;
    use parent 'WebSocket::Object';
    __PACKAGE__->_callbacks(qw( on_event ));

    package main;
    my $thing = bless {}, 'My::Thing';
    $thing->on_event( sub { print "event\n" } )->fatal(0);
    print defined $thing->_fail( -2, 'bad value' ) ? "ok\n" : 'error: ', $thing->error, "\n";

=head1 DESCRIPTION

Not a public API: L<WebSocket::Client>, L<WebSocket::Server>,
L<WebSocket::Connection> and L<WebSocket::Frame> inherit from it.

=head1 METHODS

=head2 error

The last L<WebSocket::Exception>, or C<undef>.

=head2 fatal( [$flag] )

Gets the flag, or sets it and returns the object. When true, failing
methods die with their exception instead of returning C<undef>.

=head2 _fail($code, $message), _fail_last($what)

Record an error (the second: the library's last one, prefixed with C<$what>)
and die with it under C<fatal>, else return C<undef> / an empty list.

=head2 _callbacks(@names)

A class method making an accessor per callback name: without an argument it
returns the callback, with one (a code reference or C<undef>) it sets it and
returns the object.

=head2 CLONE_SKIP

True: a new Perl thread does not get copies of these objects (which own C
handles).

=cut

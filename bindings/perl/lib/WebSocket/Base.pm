package WebSocket::Base;

# Internal: constructor, options and error model of the pure-Perl helper
# classes (WebSocket::Version, WebSocket::Request, ...). Unlike
# WebSocket::Object it loads nothing of the C library.

use strict;
use warnings;
use Scalar::Util ();
use WebSocket::Exception;

our $VERSION = '0.01';

# The status codes of include/websocket.h these classes report.
use constant {
    ERR_INVALID_ARGUMENT => -2,
    ERR_HANDSHAKE        => -6,
    ERR_PROTOCOL         => -7,
};

# The last error of each class, for the class-method form of error.
my %LAST_ERROR;

# Options as a hash: from key => value pairs or one hash reference.
sub _options {
    my $class = shift;
    return %{ $_[0] } if @_ == 1 && ref $_[0] eq 'HASH';
    return () if @_ == 1 && !defined $_[0];
    return @_ if @_ % 2 == 0;
    return;    # odd list: the caller reports it
}

sub error {
    my $self = shift;
    return ref $self ? $self->{error} : $LAST_ERROR{$self};
}

sub fatal {
    my $self = shift;
    return $self->{fatal} unless @_;
    $self->{fatal} = shift;
    return $self;
}

sub debug {
    my $self = shift;
    return $self->{debug} // 0 unless @_;
    $self->{debug} = shift;
    return $self;
}

# Records an error as a WebSocket::Exception on the object (or, called on a
# class, for that class only) and on its class; dies with it under fatal,
# else returns undef / an empty list.
sub _fail {
    my ( $self, $code, $message ) = @_;
    my $e = WebSocket::Exception->new( code => $code, message => $message );
    my $class = ref $self || $self;
    $LAST_ERROR{$class} = $e;
    if ( ref $self ) {
        $self->{error} = $e;
        die $e if $self->{fatal};
    }
    return;
}

# A class method's failure with the class's own fatal flag, $fatal (e.g.
# the fatal option of a constructor that failed): records it for
# `Class->error`, dies with it when $fatal.
sub _class_fail {
    my ( $class, $fatal, $code, $message ) = @_;
    $class->_fail( $code, $message );
    die $class->error if $fatal;
    return;
}

# Passes another object's (or class's) error on as ours.
sub _pass {
    my ( $self, $from, $what ) = @_;
    my $e = ( ref $from || ( defined $from && $from->can('error') ) ) ? $from->error : undef;
    return $self->_fail( ERR_INVALID_ARGUMENT, defined $what ? $what : 'unknown error' ) unless $e;
    my $message = defined $what ? "$what: " . $e->message : $e->message;
    return $self->_fail( $e->code, $message );
}

# Whether $v is a blessed object of $class.
sub _isa {
    my ( $v, $class ) = @_;
    return Scalar::Util::blessed($v) && $v->isa($class);
}

# Plain accessors: get, or set and return the object.
sub _accessors {
    my ( $class, @names ) = @_;
    for my $name (@names) {
        no strict 'refs';
        *{"${class}::$name"} = sub {
            my $self = shift;
            return $self->{$name} unless @_;
            $self->{$name} = shift;
            return $self;
        };
    }
    return;
}

1;

__END__

=head1 NAME

WebSocket::Base - internal: constructor options and errors of the pure-Perl helper classes

=head1 SYNOPSIS

    package My::Value;
    use parent 'WebSocket::Base';
    __PACKAGE__->_accessors(qw( name ));

    sub new {
        my $class = shift;
        my %opts  = $class->_options(@_);
        return $class->_fail( -2, 'name is required' ) unless defined $opts{name};
        return bless { %opts }, $class;
    }

    package main;
    my $v = My::Value->new( { debug => 1 } ) || print My::Value->error, "\n";

=head1 DESCRIPTION

Not a public API. L<WebSocket::Version>, L<WebSocket::HeaderValue>,
L<WebSocket::Common> (and so L<WebSocket::Request> and
L<WebSocket::Response>), L<WebSocket::Handshake> and L<WebSocket::Array>
inherit from it, and so does L<WebSocket::Object>, the base of the classes
that hold the library's handles. It loads nothing of the C library, so the
helper classes work without F<libwebsocket.so>.

The error model is the binding's: a failing method returns C<undef> (an
empty list in list context) and keeps a L<WebSocket::Exception>, which
C<error> returns; with C<fatal> set, it dies with it instead.

=head1 METHODS

=head2 error

On an object: its last exception, or C<undef>. On a class
(C<< WebSocket::Version->error >>): the last exception recorded by any
object or constructor of that class, so that a failed C<new> can be
explained.

=head2 fatal( [$flag] )

Gets the flag, or sets it and returns the object.

=head2 debug( [$level] )

Gets the debug level (0 when unset), or sets it and returns the object.
It is kept for compatibility only: nothing is printed.

=head2 _options(@args), _fail($code, $message), _pass($other, $what), _accessors(@names)

Helpers: the options as a hash (from pairs or a hash reference; an empty
list for an odd list), recording an error, passing another object's error
on, and making plain get/set accessors.

=head2 Constants

C<ERR_INVALID_ARGUMENT> (-2), C<ERR_HANDSHAKE> (-6) and C<ERR_PROTOCOL>
(-7), the codes of F<include/websocket.h> these classes report.

=cut

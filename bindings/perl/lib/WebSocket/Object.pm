package WebSocket::Object;

# Internal: what the binding's classes that hold C handles share: the error
# model of WebSocket::Base with the library's errors (_fail_last), debug
# sending the library's log to STDERR, callback accessors and on(), and the
# rule that a new Perl thread gets no copy of an object that owns C handles.

use strict;
use warnings;
use Carp ();
use mro ();
use WebSocket::Exception;
use WebSocket::FFI;
use parent 'WebSocket::Base';

our $VERSION = '0.01';

# The callback names each class made with _callbacks, by class name.
my %CALLBACKS;

sub debug {
    my $self = shift;
    return $self->SUPER::debug unless @_;
    _debug_log( $_[0] );
    return $self->SUPER::debug(@_);
}

# debug => N: unless the application has a log callback of its own, the
# library's log goes to STDERR, at level info (1) or debug (2 and more).
sub _debug_log {
    my ($level) = @_;
    return unless $level && $level =~ /\A[0-9]+\z/;
    require WebSocket::Log;
    my $mine = WebSocket::Log::callback();
    return if $mine && $mine != \&_print_log;
    WebSocket::Log->set( \&_print_log, $level > 1 ? 'debug' : 'info' );
    return;
}

sub _print_log {
    my ( $level, $conn_id, $message ) = @_;
    printf STDERR "WebSocket [%s]%s %s\n", $level, $conn_id ? " #$conn_id" : '', $message;
}

# The C handles are owned by the interpreter that made them: a thread's copy
# of the object must not free them again.
sub CLONE_SKIP { 1 }

# _fail with the library's last error, its message prefixed with $what.
sub _fail_last {
    my ( $self, $what ) = @_;
    my ( $code, $message ) = WebSocket::FFI::last_error();
    return $self->_fail( $code, defined $what ? "$what: $message" : $message );
}

# The UTF-8 bytes of the topic name $topic for the C calls, or _fail
# (WS_ERR_INVALID_ARGUMENT, the message prefixed with $what) saying why it
# cannot name one.
sub _topic {
    my ( $self, $what, $topic ) = @_;
    my $why = WebSocket::FFI::bad_topic($topic);
    return $self->_fail( WebSocket::FFI::WS_ERR_INVALID_ARGUMENT, "$what: $why" ) if $why;
    return WebSocket::FFI::text_to_utf8($topic);
}

# A library configuration made by $new (ws_client_config_new ...) and filled
# by the class's _configure($cfg); undef with error set (the configuration
# freed with $free) when an option is refused.
sub _new_config {
    my ( $self, $new, $free ) = @_;
    my $cfg = $new->() or return $self->_fail_last('configuration');
    return $cfg if eval { $self->_configure($cfg); 1 };
    my $err = $@;
    $free->($cfg);
    die $err unless ref $err && $err->isa('WebSocket::Exception');
    return $self->_fail( $err->code, $err->message );
}

# For _configure: dies with the library's last error, named after the
# option, when a setter returned a negative status.
sub _check {
    my ( $what, $rc ) = @_;
    return if $rc >= 0;
    my ( $code, $message ) = WebSocket::FFI::last_error();
    die WebSocket::Exception->new( code => $code, message => "$what: $message" );
}

# Seconds (fractions allowed) as whole milliseconds, at least 1.
sub _ms {
    my $ms = int( $_[0] * 1000 );
    return $ms < 1 ? 1 : $ms;
}

# Whether the extensions option (a name, "a, b", or an array reference)
# asks for permessage-deflate; dies on any other extension.
sub _wants_deflate {
    my ($ext) = @_;
    return 0 unless defined $ext;
    for my $name ( ref $ext eq 'ARRAY' ? @$ext : split /\s*,\s*/, $ext ) {
        die WebSocket::Exception->new( code => -2, message => "extensions: '$name' is not supported (only permessage-deflate)" )
          unless $name eq 'permessage-deflate';
    }
    return 1;
}

# The (low, high) of the send_watermarks option; dies unless it is an array
# reference of two byte counts.
sub _watermarks {
    my ($marks) = @_;
    die WebSocket::Exception->new( code => -2, message => 'send_watermarks: expects [ low, high ], two byte counts' )
      unless ref $marks eq 'ARRAY' && @$marks == 2 && !grep { !defined || !/\A[0-9]+\z/ } @$marks;
    return @$marks;
}

# Makes, in the calling class, one accessor per name (on_connect, ...): it
# returns the callback, or sets it (a code reference or undef) and returns
# the object.
sub _callbacks {
    my ( $class, @names ) = @_;
    for my $name (@names) {
        no strict 'refs';
        $CALLBACKS{$class}{$name} = 1;
        *{"${class}::$name"} = sub {
            my $self = shift;
            return $self->{$name} unless @_;
            my $cb = shift;
            Carp::croak("$name: not a code reference") if defined $cb && ref $cb ne 'CODE';
            $self->{$name} = $cb;
            $self->_callback_changed($name);
            return $self;
        };
    }
    return;
}

# Called after a callback was set or removed (by _callbacks' accessors).
sub _callback_changed { }

# The version option as a WebSocket::Version (13 unless given), or sets it.
sub version {
    my $self = shift;
    unless (@_) {
        require WebSocket::Version;
        return WebSocket::Version->new( $self->{version} // 13 );
    }
    $self->{version} = shift;
    return $self;
}

# Why the version option $v cannot be spoken (undef when it can): only 13,
# as a number, a draft name (draft-ietf-hybi-17) or a WebSocket::Version.
sub _bad_version {
    my ($v) = @_;
    return undef unless defined $v;
    require WebSocket::Version;
    my $version = WebSocket::Version->new($v);
    return undef if $version && $version == 13;
    return "version $v is not supported (only 13, RFC 6455)";
}

# The compression_threshold option, or the process-wide default.
sub compression_threshold {
    my $self = shift;
    return $self->{compression_threshold} // WebSocket->compression_threshold unless @_;
    $self->{compression_threshold} = shift;
    return $self;
}

# on( event => sub { ... }, ... ): sets the callbacks on_event ...; returns
# the object. Dies on an event the class does not have (a programming error).
sub on {
    my $self = shift;
    Carp::croak('on: expects event => callback pairs') if @_ % 2;
    my @classes = @{ mro::get_linear_isa( ref $self ) };
    while ( my ( $event, $cb ) = splice @_, 0, 2 ) {
        my $name = "on_$event";
        Carp::croak("on: unknown event '$event'") unless grep { $CALLBACKS{$_}{$name} } @classes;
        $self->$name($cb);
    }
    return $self;
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

It inherits C<error> (also a class method), C<fatal>, C<_fail>,
C<_class_fail>, C<_options> and C<_accessors> from L<WebSocket::Base>.

=head2 debug( [$level] )

Gets the level, or sets it and returns the object. A level of 1 or more
sends the library's log to STDERR (info from 1, debug from 2), unless the
application set a log callback of its own with L<WebSocket::Log>.

=head2 on( event => \&callback, ... )

Sets several callbacks at once (C<< on( utf8 => $cb ) >> is
C<< on_utf8($cb) >>); returns the object. An event the class does not have
is a programming error: it dies.

=head2 _fail_last($what)

Records the library's last error, prefixed with C<$what>, as C<_fail> does.

=head2 _topic($what, $topic)

The UTF-8 bytes of a topic name for the C calls, or (as C<_fail>) C<undef>
with C<error> set when it cannot be one (C<undef>, a NUL character, not 1
to 1024 bytes).

=head2 _new_config(\&new, \&free)

A library configuration filled by the class's C<_configure>, or C<undef>
with C<error> set.

=head2 _check($what, $status), _ms($seconds), _wants_deflate($extensions), _watermarks($marks)

Helpers of C<_configure>: die with the library's error when a setter
failed; seconds as milliseconds (at least 1); whether the C<extensions>
option asks for permessage-deflate (dying on any other extension); the low
and high marks of C<send_watermarks> (dying unless two byte counts).

=head2 version( [$version] )

The C<version> option as a L<WebSocket::Version> (13, draft-ietf-hybi-17,
unless another spelling of it was given); with an argument, sets it and
returns the object. Only 13 is spoken: C<new>, C<listen> or C<connect>
refuse others (C<_bad_version> says why).

=head2 compression_threshold( [$bytes] )

The C<compression_threshold> option, or the process-wide default
(C<< WebSocket->compression_threshold >>); with an argument, sets it for the
next C<listen> or C<connect> and returns the object.

=head2 _callbacks(@names)

A class method making an accessor per callback name: without an argument it
returns the callback, with one (a code reference or C<undef>) it sets it and
returns the object.

=head2 CLONE_SKIP

True: a new Perl thread does not get copies of these objects (which own C
handles).

=cut

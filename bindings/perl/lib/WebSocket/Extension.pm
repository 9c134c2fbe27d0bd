package WebSocket::Extension;

use strict;
use warnings;
use parent 'WebSocket::HeaderValue';
use WebSocket::Array;

our $VERSION = '0.01';

# The parameters of permessage-deflate (RFC 7692): the two flags take no
# value; the window sizes are 8 to 15 (client_max_window_bits may be bare in
# an offer).
my %DEFLATE_FLAG = map { $_ => 1 } qw( server_no_context_takeover client_no_context_takeover );
my %DEFLATE_BITS = map { $_ => 1 } qw( server_max_window_bits client_max_window_bits );

sub extension { shift->value(@_) }
sub name      { shift->value(@_) }

sub parameters { $_[0]->params }

sub parse {
    my ( $class, $text ) = @_;
    my $all = $class->new_from_multi($text);
    return unless defined $all;
    return wantarray ? $all->list : $all;
}

sub is_deflate { lc( $_[0]->value ) eq 'permessage-deflate' ? 1 : 0 }

for my $flag ( keys %DEFLATE_FLAG ) {
    no strict 'refs';
    *{$flag} = sub {
        my $self = shift;
        return $self->has_param($flag) unless @_;
        return shift() ? $self->param( $flag => undef ) : $self->remove_param($flag);
    };
}

for my $bits ( keys %DEFLATE_BITS ) {
    no strict 'refs';
    *{$bits} = sub {
        my $self = shift;
        unless (@_) {
            return undef unless $self->has_param($bits);
            my $v = $self->param($bits);
            return defined $v ? $v : 1;    # bare: true, no size
        }
        my $v = shift;
        return $self->remove_param($bits) unless defined $v;
        return $self->param( $bits => undef ) if $v eq '' && $bits eq 'client_max_window_bits';
        return $self->_fail( -2, "$bits: expects 8 to 15, got '$v'" ) unless $v =~ /\A(?:[89]|1[0-5])\z/;
        return $self->param( $bits => 0 + $v );
    };
}

# Whether the parameters are those RFC 7692 allows for permessage-deflate
# (true for any other extension); undef with error saying what is wrong.
sub is_valid {
    my $self = shift;
    return 1 unless $self->is_deflate;
    for my $name ( $self->param_names ) {
        my $v = $self->param($name);
        if ( $DEFLATE_FLAG{$name} ) {
            return $self->_fail( -2, "permessage-deflate: $name takes no value" ) if defined $v;
        }
        elsif ( $DEFLATE_BITS{$name} ) {
            next if !defined $v && $name eq 'client_max_window_bits';
            return $self->_fail( -2, "permessage-deflate: $name must be 8 to 15" )
              unless defined $v && $v =~ /\A(?:[89]|1[0-5])\z/;
        }
        else {
            return $self->_fail( -2, "permessage-deflate: unknown parameter '$name'" );
        }
    }
    return 1;
}

1;

__END__

=head1 NAME

WebSocket::Extension - a WebSocket extension offer or answer, such as permessage-deflate

=head1 SYNOPSIS

    use WebSocket::Extension;
    my $ext = WebSocket::Extension->new('permessage-deflate')
      || die( WebSocket::Extension->error, "\n" );
    $ext->client_max_window_bits('');          # offered bare: "any size you like"
    $ext->server_no_context_takeover(1);
    print "Sec-WebSocket-Extensions: $ext\n";
    # Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits; server_no_context_takeover

    my @offers = WebSocket::Extension->parse(
        'permessage-deflate; client_max_window_bits=10, x-webkit-deflate-frame');
    print $offers[0]->name, ' ', $offers[0]->client_max_window_bits, "\n";   # permessage-deflate 10

=head1 DESCRIPTION

One element of a C<Sec-WebSocket-Extensions> header (RFC 6455 section 9.1):
an extension name and its parameters. It is a L<WebSocket::HeaderValue>
whose value is the name, so everything there applies (C<param>,
C<params>, C<as_string>, C<new_from_header>, C<new_from_multi>, ...).

For C<permessage-deflate> (RFC 7692), the only extension libwebsocket
implements, it has an accessor per parameter.

=head1 METHODS

=head2 new( $name [, param => value, ...] )

As L<WebSocket::HeaderValue/new>; the value is the extension name.

=head2 parse( $header_value )

A class method: the extensions of a C<Sec-WebSocket-Extensions> value, as
a list (or, in scalar context, a L<WebSocket::Array>) of objects; an empty
list / C<undef> with C<error> set when it cannot be parsed. The same as
C<new_from_multi>, which returns the array.

=head2 extension, name

The extension name; with an argument, sets it and returns the object.

=head2 parameters

A copy of the parameters as a hash reference (C<params>); a bare
parameter has the value C<undef>.

=head2 is_deflate

True for C<permessage-deflate> (in any case).

=head2 server_no_context_takeover( [$bool] ), client_no_context_takeover( [$bool] )

Whether the flag is there; with an argument, adds or removes it and
returns the object.

=head2 server_max_window_bits( [$bits] ), client_max_window_bits( [$bits] )

The window size in bits (8 to 15), C<undef> when the parameter is absent,
or 1 for a bare C<client_max_window_bits> (which a client offer may send).
With an argument: 8 to 15 sets it, C<undef> removes it, and for the
client's the empty string makes it bare; anything else returns C<undef>
with C<error> set.

=head2 is_valid

True when the parameters are those RFC 7692 allows (always true for other
extensions); else C<undef> with C<error> naming the faulty parameter.

=cut

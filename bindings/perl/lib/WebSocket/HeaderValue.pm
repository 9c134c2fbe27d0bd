package WebSocket::HeaderValue;

use strict;
use warnings;
use parent 'WebSocket::Base';
use WebSocket::Array;

our $VERSION = '0.01';

use overload '""' => sub { my $s = $_[0]->as_string; defined $s ? $s : '' }, 'bool' => sub { 1 }, fallback => 1;

# RFC 7230 token characters.
my $TOKEN = qr/[!#\$%&'*+.^_`|~0-9A-Za-z-]+/;

# Options of new; any other key => value pair is a parameter.
my %OPTION = map { $_ => 1 } qw( debug fatal original params );

sub new {
    my $class = shift;
    my $value = shift;
    my $name  = ( ref $class || $class ) . '->new';
    return $class->_fail( -2, "$name: no value was given" ) unless defined $value && length $value;
    return $class->_fail( -2, "$name: the value contains a line break or a NUL" ) if $value =~ /[\r\n\0]/;
    my @args = @_ == 1 && ref $_[0] eq 'HASH' ? %{ $_[0] } : @_;
    return $class->_fail( -2, "$name: options come as pairs or a hash reference" ) if @args % 2;
    my $self = bless { value => $value, params => {}, order => [], original => '' }, ref $class || $class;
    while ( my ( $k, $v ) = splice @args, 0, 2 ) {
        if ( $k eq 'params' ) {
            return $class->_fail( -2, "$name: params must be a hash reference" ) unless ref $v eq 'HASH';
            $self->param( $_ => $v->{$_} ) for sort keys %$v;
        }
        elsif ( $OPTION{$k} ) {
            $self->{$k} = $v;
        }
        else {
            $self->param( $k => $v );
        }
    }
    $self->{original} //= '';
    return $self;
}

# Splits $s on the unquoted occurrences of the character $sep, keeping
# quoted strings (and their backslash escapes) whole.
sub _split_unquoted {
    my ( $s, $sep ) = @_;
    my @parts = ('');
    my $quoted = 0;
    for ( my $i = 0 ; $i < length $s ; $i++ ) {
        my $c = substr( $s, $i, 1 );
        if ( $quoted && $c eq '\\' ) {
            $parts[-1] .= substr( $s, $i, 2 );
            $i++;
            next;
        }
        $quoted = !$quoted if $c eq '"';
        if ( !$quoted && $c eq $sep ) {
            push @parts, '';
            next;
        }
        $parts[-1] .= $c;
    }
    return ( \@parts, $quoted );
}

sub new_from_header {
    my ( $class, $s, $sep ) = @_;
    $sep = ';' unless defined $sep && length $sep;
    my $what = ( ref $class || $class ) . '->new_from_header';
    return $class->_fail( -2, "$what: no header value was given" ) unless defined $s && $s =~ /\S/;
    my ( $parts, $open ) = _split_unquoted( $s, $sep );
    return $class->_fail( -2, "$what: a quoted string is not closed in '$s'" ) if $open;
    my $value = shift @$parts;
    $value =~ s/\A\s+|\s+\z//g;
    return $class->_fail( -2, "$what: no value before the parameters in '$s'" ) unless length $value;
    my $self = $class->new($value) or return;
    for my $frag (@$parts) {
        $frag =~ s/\A\s+|\s+\z//g;
        next unless length $frag;
        my ( $attr, $v ) = split /\s*=\s*/, $frag, 2;
        return $class->_fail( -2, "$what: '$attr' is not a valid parameter name" ) unless $attr =~ /\A$TOKEN\z/;
        if ( defined $v && $v =~ /\A"(.*)"\z/s ) {
            ( $v = $1 ) =~ s/\\(.)/$1/gs;
        }
        $self->param( lc $attr => $v );
    }
    ( $self->{original} = $s ) =~ s{\A\s+|\s+\z}{}g;
    return $self;
}

sub new_from_multi {
    my ( $class, $s, $sep ) = @_;
    my $what = ( ref $class || $class ) . '->new_from_multi';
    return $class->_fail( -2, "$what: no header value was given" ) unless defined $s && $s =~ /\S/;
    my ( $parts, $open ) = _split_unquoted( $s, ',' );
    return $class->_fail( -2, "$what: a quoted string is not closed in '$s'" ) if $open;
    my $all = WebSocket::Array->new;
    for my $part (@$parts) {
        next unless $part =~ /\S/;
        my $o = $class->new_from_header( $part, $sep ) or return;
        $all->push($o);
    }
    return $class->_fail( -2, "$what: no value in '$s'" ) unless $all->length;
    return $all;
}

sub value {
    my $self = shift;
    return $self->{value} unless @_;
    my $v = shift;
    return $self->_fail( -2, 'value: an empty value' ) unless defined $v && length $v;
    $self->{value}    = $v;
    $self->{original} = '';
    return $self;
}

# params: a copy of the parameters as a hash reference; with a hash
# reference, replaces them.
sub params {
    my $self = shift;
    if (@_) {
        my $h = shift;
        return $self->_fail( -2, 'params: expects a hash reference' ) unless ref $h eq 'HASH';
        $self->{params} = {};
        $self->{order}  = [];
        $self->param( $_ => $h->{$_} ) for sort keys %$h;
        return $self;
    }
    return { %{ $self->{params} } };
}

# The names of the parameters in their order.
sub param_names { @{ $_[0]->{order} } }

sub param {
    my $self = shift;
    my $name = shift;
    return $self->_fail( -2, 'param: no name' ) unless defined $name && length $name;
    return $self->{params}{$name} unless @_;
    my $v = shift;
    push @{ $self->{order} }, $name unless exists $self->{params}{$name};
    $self->{params}{$name} = $v;
    $self->{original} = '';
    return $self;
}

sub has_param { exists $_[0]->{params}{ $_[1] } ? 1 : 0 }

sub remove_param {
    my ( $self, $name ) = @_;
    return $self unless exists $self->{params}{$name};
    delete $self->{params}{$name};
    $self->{order} = [ grep { $_ ne $name } @{ $self->{order} } ];
    $self->{original} = '';
    return $self;
}

sub as_string {
    my $self = shift;
    return $self->{original} if length $self->{original};
    my $s = $self->{value};
    for my $name ( @{ $self->{order} } ) {
        return $self->_fail( -2, "as_string: '$name' is not a valid parameter name" ) unless $name =~ /\A$TOKEN\z/;
        my $v = $self->{params}{$name};
        if ( defined $v ) {
            my $q = $self->qstring($v);
            return unless defined $q;
            $s .= "; $name=$q";
        }
        else {
            $s .= "; $name";
        }
    }
    return $self->{original} = $s;
}

sub original {
    my $self = shift;
    return $self->{original} unless @_;
    $self->{original} = shift // '';
    return $self;
}

sub reset {
    my $self = shift;
    $self->{original} = '';
    return $self;
}

sub qstring {
    my ( $self, $s ) = @_;
    $s = '' unless defined $s;
    return $s if $s =~ /\A$TOKEN\z/;
    return $self->_fail( -2, 'qstring: a control character cannot be quoted' ) if $s =~ /[\x00-\x08\x0a-\x1f\x7f]/;
    ( my $q = $s ) =~ s/(["\\])/\\$1/g;
    return qq{"$q"};
}

sub token_escape {
    my ( $self, $s ) = @_;
    return undef unless defined $s;
    utf8::encode($s) if utf8::is_utf8($s);
    $s =~ s/([^!#\$&'*+.^_`|~0-9A-Za-z-])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

sub token_unescape {
    my ( $self, $s ) = @_;
    return undef unless defined $s;
    $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    return $s;
}

1;

__END__

=head1 NAME

WebSocket::HeaderValue - an HTTP header value with parameters (C<foo; bar=2>)

=head1 SYNOPSIS

    use WebSocket::HeaderValue;
    my $hv = WebSocket::HeaderValue->new('foo') || die( WebSocket::HeaderValue->error, "\n" );
    my $hv = WebSocket::HeaderValue->new( 'foo', bar => 2 ) || die( WebSocket::HeaderValue->error, "\n" );
    print "SomeHeader: $hv\n";                      # SomeHeader: foo; bar=2

    my $ct = WebSocket::HeaderValue->new_from_header('text/html; charset="utf-8"');
    print $ct->value, ' ', $ct->param('charset'), "\n";     # text/html utf-8
    my $all = WebSocket::HeaderValue->new_from_multi('a; x=1, b');   # a WebSocket::Array
    print $all->length, "\n";                                       # 2

=head1 DESCRIPTION

A header value made of a main value followed by C<;>-separated parameters
(C<name=value>, C<name="quoted value">, or a bare C<name>), as in
C<Content-Type> or C<Sec-WebSocket-Extensions>. Parameters keep the order
they were given or parsed in. The object stringifies to C<as_string>.

Errors follow the binding's model: a failing method or constructor returns
C<undef>, and C<error> (on the object, or on the class after a failed
constructor) gives the L<WebSocket::Exception>.

=head1 CONSTRUCTORS

=head2 new( $value [, name => value, ...] ), new( $value, \%args )

A value with parameters. The pairs are parameters, except C<debug>,
C<fatal>, C<original> (the text to stringify to, until something changes)
and C<params> (a hash reference of more parameters). C<undef> with an error
for an empty value or one with a line break.

=head2 new_from_header( $text [, $separator] )

Parses C<value; name=value; ...> (the separator defaults to C<;>).
Parameter names are lower-cased, quoted values unquoted; a parameter
without C<=> has the value C<undef>. C<undef> with an error for an empty
text, an unclosed quote or a parameter name that is not a token.

=head2 new_from_multi( $text [, $separator] )

Parses a comma-separated list of such values (commas inside quotes do not
split) into a L<WebSocket::Array> of objects of the class it is called on
(empty elements are skipped; C<undef> with an error when none is left).

=head1 METHODS

=head2 value( [$value] )

The main value (C<foo> in C<foo; bar=2>); sets it and returns the object.

=head2 param( $name [, $value] )

A parameter's value (C<undef> for a bare or a missing one; see
C<has_param>), or sets it (C<undef> for a bare parameter) and returns the
object.

=head2 params( [\%params] )

A copy of the parameters as a hash reference, or replaces them all.

=head2 param_names

The parameter names, in order.

=head2 has_param( $name ), remove_param( $name )

Whether a parameter is there (bare ones included); removing one.

=head2 as_string

The header value as text: the value, then C<; name=value> for each
parameter (the value quoted when it is not a token), or C<; name> for a
bare one. Once computed (or parsed), the text is kept in C<original>
until the value or a parameter changes. C<undef> with an error for a
parameter name that is not a token.

=head2 original( [$text] ), reset

The cached text; C<reset> forgets it, so C<as_string> builds it again.

=head2 qstring( $string )

The string as it may appear as a parameter value: as is when it is a
token, else in double quotes with C<"> and C<\> escaped. C<undef> with an
error for a control character.

=head2 token_escape( $string ), token_unescape( $string )

The string with every character that is not allowed in a token written as
C<%XX> (UTF-8 bytes), and back.

=cut

package WebSocket::Array;

use strict;
use warnings;

our $VERSION = '0.01';

# The object is a blessed reference to a hash holding the array, so that
# '@{}' can hand out the array itself.
# In numeric and boolean context it is its length, as a list in scalar
# context would be.
use overload
  '@{}'    => sub { $_[0]->{items} },
  'bool'   => sub { @{ $_[0]->{items} } ? 1 : 0 },
  '0+'     => sub { scalar @{ $_[0]->{items} } },
  '""'     => sub { CORE::join( ' ', CORE::map { defined $_ ? $_ : '' } @{ $_[0]->{items} } ) },
  fallback => 1;

sub new {
    my $class = shift;
    my @items = @_ == 1 && ref $_[0] eq 'ARRAY' ? @{ $_[0] } : @_;
    return bless { items => \@items }, ref $class || $class;
}

sub length   { scalar @{ $_[0]->{items} } }
sub is_empty { !@{ $_[0]->{items} } }
sub list     { @{ $_[0]->{items} } }
sub first    { $_[0]->{items}[0] }
sub last     { $_[0]->{items}[-1] }
sub get      { $_[0]->{items}[ $_[1] // 0 ] }

sub set {
    my ( $self, $i, $v ) = @_;
    $self->{items}[$i] = $v;
    return $self;
}

sub push {
    my $self = CORE::shift;
    CORE::push @{ $self->{items} }, @_;
    return $self;
}

sub unshift {
    my $self = CORE::shift;
    CORE::unshift @{ $self->{items} }, @_;
    return $self;
}

sub pop   { CORE::pop @{ $_[0]->{items} } }
sub shift { CORE::shift @{ $_[0]->{items} } }

sub splice {
    my $self = CORE::shift;
    my ( $offset, $length, @list ) = @_;
    $offset //= 0;
    my @removed =
      @_ > 1 ? CORE::splice( @{ $self->{items} }, $offset, $length, @list ) : CORE::splice( @{ $self->{items} }, $offset );
    return wantarray ? @removed : $self->new( \@removed );
}

sub empty { $_[0]->reset }

sub reset {
    my $self = CORE::shift;
    @{ $self->{items} } = ();
    return $self;
}

# for / each: the code gets the index and the value; foreach the value.
# The value is also in $_. The code stops the loop by calling break on the
# array; what it returns does not matter.
sub for {
    my ( $self, $code ) = @_;
    my $items = $self->{items};
    local $self->{_break} = 0;
    for my $i ( 0 .. $#$items ) {
        local $_ = $items->[$i];
        $code->( $i, $items->[$i] );
        last if $self->{_break};
    }
    return $self;
}

sub each {
    my ( $self, $code ) = @_;
    return $self->for($code);
}

sub foreach {
    my ( $self, $code ) = @_;
    local $self->{_break} = 0;
    for my $item ( @{ $self->{items} } ) {
        local $_ = $item;
        $code->($item);
        last if $self->{_break};
    }
    return $self;
}

sub break {
    my $self = CORE::shift;
    $self->{_break} = 1;
    return $self;
}

# grep / map: a code reference (called with the value in $_ and as its
# argument) or, for grep, a regular expression; both return a new array.
sub grep {
    my ( $self, $what ) = @_;
    my @found =
      ref $what eq 'CODE'
      ? CORE::grep( { $what->($_) } @{ $self->{items} } )
      : ref $what eq 'Regexp' ? CORE::grep( { defined $_ && $_ =~ $what } @{ $self->{items} } )
      :                         CORE::grep( { defined $_ && defined $what && $_ eq $what } @{ $self->{items} } );
    return $self->new( \@found );
}

sub map {
    my ( $self, $code ) = @_;
    return $self->new( [ CORE::map( { $code->($_) } @{ $self->{items} } ) ] );
}

# Whether a value is in the array (compared as strings).
sub exists {
    my ( $self, $value ) = @_;
    for ( @{ $self->{items} } ) {
        return 1 if ( !defined $_ && !defined $value ) || ( defined $_ && defined $value && $_ eq $value );
    }
    return 0;
}

sub pos {
    my ( $self, $value ) = @_;
    my $items = $self->{items};
    for my $i ( 0 .. $#$items ) {
        return $i if defined $items->[$i] && defined $value && $items->[$i] eq $value;
    }
    return -1;
}

sub contains { $_[0]->exists( $_[1] ) }
sub has      { $_[0]->exists( $_[1] ) }

# The element at $index (as get).
sub index { $_[0]->{items}[ $_[1] // 0 ] }

sub as_string { "$_[0]" }

sub join {
    my ( $self, $sep ) = @_;
    return CORE::join( $sep // '', CORE::map { defined $_ ? $_ : '' } @{ $self->{items} } );
}

sub sort {
    my ( $self, $code ) = @_;
    my @sorted = $code ? CORE::sort( { $code->( $a, $b ) } @{ $self->{items} } ) : CORE::sort( @{ $self->{items} } );
    return $self->new( \@sorted );
}

sub reverse { $_[0]->new( [ CORE::reverse @{ $_[0]->{items} } ] ) }

sub unique {
    my $self = CORE::shift;
    my %seen;
    return $self->new( [ CORE::grep { !$seen{ defined $_ ? $_ : '' }++ } @{ $self->{items} } ] );
}

sub remove {
    my ( $self, @values ) = @_;
    my %drop = CORE::map { $_ => 1 } @values;
    @{ $self->{items} } = CORE::grep { !( defined $_ && $drop{$_} ) } @{ $self->{items} };
    return $self;
}

sub clone { $_[0]->new( [ @{ $_[0]->{items} } ] ) }

sub as_array { $_[0]->{items} }

sub TO_JSON { [ @{ $_[0]->{items} } ] }

1;

__END__

=head1 NAME

WebSocket::Array - a small array object, usable as an array reference

=head1 SYNOPSIS

    use WebSocket::Array;
    my $a = WebSocket::Array->new( qw( chat superchat ) );
    $a->push('json');
    print $a->length, "\n";                        # 3
    print "offered: @$a\n";                        # used as a plain array ref
    print "found\n" if $a->exists('chat');
    $a->for( sub { my ( $i, $v ) = @_; print "$i: $v\n" } );
    $a->foreach( sub { print "$_\n" } );
    my $long = $a->grep( sub { length > 4 } );     # a new WebSocket::Array
    my $upper = $a->map( sub { uc } );
    print $a->first, ' .. ', $a->last, "\n";
    print "none\n" if WebSocket::Array->new->is_empty;

=head1 DESCRIPTION

An array object with the methods that code written for the CPAN
C<WebSocket> distribution calls on the array objects it gets back (there,
L<Module::Generic::Array>): it has no dependency. It is what
L<WebSocket::Request> and L<WebSocket::Response> return for their
subprotocols and extensions.

It overloads C<@{}>, so C<@$array>, C<< $array->[0] >>, C<scalar @$array>
and C<for (@$array)> work on the elements themselves (changes are seen by
the object). In numeric and boolean context it is its length, as a list
in scalar context would be: C<< $array == 2 >>, and C<if ($array)> is
false when it is empty. As a string it is its elements joined by a space
(so C<eq> compares those strings).

=head1 METHODS

=head2 new( @values ) or new( \@values )

A new array of the values (an array reference given alone is copied).

=head2 length

The number of elements.

=head2 is_empty

True when there is no element.

=head2 list

The elements as a list.

=head2 first, last

The first and the last element (C<undef> when empty).

=head2 get( $index ), set( $index, $value )

The element at C<$index> (negative counts from the end); C<set> stores one
and returns the array.

=head2 push( @values ), unshift( @values )

Add elements at the end or the start; return the array.

=head2 pop, shift

Remove and return the last or the first element.

=head2 splice( $offset [, $length, @list] )

As Perl's C<splice>: the removed elements as a list, or in scalar context
as a new array.

=head2 for( sub { my ( $index, $value ) = @_; ... } ), each( ... )

Call the code for each element with its index and value (the value is also
in C<$_>). Return the array.

=head2 foreach( sub { my ($value) = @_; ... } )

The same, the code getting the value only (also in C<$_>).

=head2 break

Called from the code of C<for>, C<each> or C<foreach>, ends the loop after
that element. What the code returns is ignored.

=head2 grep( sub { ... } | qr/.../ | $string )

A new array of the elements for which the code returns true (the element
is in C<$_> and is the argument), or that match the regular expression, or
that equal the string.

=head2 map( sub { ... } )

A new array of what the code returns for each element (in C<$_> and as the
argument).

=head2 exists( $value ), contains( $value ), has( $value )

True when an element equals C<$value> (as strings). It tests values, not
indexes.

=head2 index( $index )

The element at C<$index>, as C<get>.

=head2 pos( $value )

The index of the first element equal to C<$value>, or -1.

=head2 as_string

The elements joined by a space, as the object stringifies.

=head2 join( [$separator] )

The elements joined by the separator (default the empty string).

=head2 sort( [sub { my ( $x, $y ) = @_; ... }] ), reverse, unique, clone

New arrays: sorted (as strings, or by the comparison code given the two
elements), reversed, without repeated values, or a plain copy.

=head2 remove( @values )

Removes every element equal to one of the values; returns the array.

=head2 reset, empty

Remove every element; return the array.

=head2 as_array

The underlying array reference itself.

=head2 TO_JSON

A copy of the elements as a plain array reference (for JSON encoders).

=cut

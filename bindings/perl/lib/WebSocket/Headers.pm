package WebSocket::Headers;

use strict;
use warnings;
use HTTP::Headers ();
use Scalar::Util ();
use WebSocket::Base;
use parent -norequire, 'HTTP::Headers';

our $VERSION = '0.01';

# HTTP::Headers keeps the fields as the keys of its hash, so the error of
# an object is kept outside of it.
my %ERROR;

sub error {
    my $self = shift;
    return ref $self ? $ERROR{ Scalar::Util::refaddr($self) } : WebSocket::Base::error($self);
}

sub _fail {
    my ( $self, $code, $message ) = @_;
    WebSocket::Base::_fail( ref $self || $self, $code, $message );
    $ERROR{ Scalar::Util::refaddr($self) } = WebSocket::Base::error( ref $self ) if ref $self;
    return;
}

sub DESTROY { delete $ERROR{ Scalar::Util::refaddr( $_[0] ) } }

# The comma-separated elements of a field (every occurrence of it), trimmed.
sub tokens {
    my ( $self, $field ) = @_;
    return grep { length } map { s/\A\s+|\s+\z//gr } map { split /,/ } $self->header($field);
}

# Whether a comma-separated field has an element equal to $token, ignoring
# case (Connection: keep-alive, Upgrade).
sub has_token {
    my ( $self, $field, $token ) = @_;
    return ( grep { lc $_ eq lc $token } $self->tokens($field) ) ? 1 : 0;
}

# The fields as a list of name => value pairs, in the order as_string uses.
sub pairs {
    my $self = shift;
    my @pairs;
    $self->scan( sub { push @pairs, @_ } );
    return @pairs;
}

# Adds pairs from lines "Name: value" (folded lines joined); undef with
# error at the first line that is not a header.
sub parse_lines {
    my ( $self, @lines ) = @_;
    my @fields;
    for my $line (@lines) {
        if ( $line =~ /\A[ \t]+(.*)\z/s ) {
            return $self->_fail( -7, 'a folded header line comes first' ) unless @fields;
            $fields[-1][1] .= " $1";
            next;
        }
        return $self->_fail( -7, "not a header line: '$line'" )
          unless $line =~ /\A([!#\$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*\z/s;
        push @fields, [ $1, $2 ];
    }
    $self->push_header(@$_) for @fields;
    return $self;
}

1;

__END__

=head1 NAME

WebSocket::Headers - the header fields of a WebSocket handshake request or response

=head1 SYNOPSIS

    use WebSocket::Headers;
    my $h = WebSocket::Headers->new || die( WebSocket::Headers->error, "\n" );
    $h->header( 'Content-Type' => 'text/plain' );    # set
    my $ct = $h->header('Content-Type');              # get
    $h->header( Connection => 'keep-alive, Upgrade' );
    print "an upgrade\n" if $h->has_token( Connection => 'upgrade' );
    print $h->as_string("\r\n");

=head1 DESCRIPTION

An L<HTTP::Headers> (from libwww-perl's HTTP-Message) with a few additions
for the handshake. Every method of L<HTTP::Headers> works as documented
there: C<new( Name => value, ... )>, C<header>, C<push_header>,
C<init_header>, C<remove_header>, C<header_field_names>, C<scan>,
C<as_string( [$eol] )>, C<clone>, C<content_type>, ...

Unlike the array and scalar objects the CPAN C<WebSocket> distribution's
C<header> returns, C<header> returns what L<HTTP::Headers> returns: a plain
string (in list context, one value per occurrence). Write
C<< lc( $h->header('Upgrade') // '' ) eq 'websocket' >> or use
C<has_token> rather than chaining methods on the value.

=head1 METHODS

=head2 tokens( $field )

The comma-separated elements of every occurrence of the field, trimmed:
C<Connection: keep-alive, Upgrade> gives C<('keep-alive', 'Upgrade')>.

=head2 has_token( $field, $token )

True when one of those elements equals C<$token>, ignoring case.

=head2 pairs

The fields as a flat list of name => value pairs, in the order
C<as_string> writes them.

=head2 parse_lines( @lines )

Adds the fields of header lines (C<Name: value>, without line ends; a line
starting with a space or a tab continues the one before). Returns the
object, or C<undef> with C<error> set at the first line that is no header.

=head2 error

The last error of the object, or called on the class the last of the
class. L<HTTP::Headers> stores fields in the object's hash, so the error
is kept outside it: it never shows as a header.

=cut

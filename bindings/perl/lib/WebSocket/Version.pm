package WebSocket::Version;

use strict;
use warnings;
use Scalar::Util ();
use Time::Piece ();
use Time::Seconds ();
use parent 'WebSocket::Base';

our $VERSION = '0.01';

use overload
  '""'     => sub { my $v = $_[0]->{version}; defined $v ? "$v" : '' },
  '0+'     => sub { $_[0]->{version} // -1 },
  'bool'   => sub { 1 },
  '<=>'    => sub { _compare_num(@_) },
  'cmp'    => sub { _compare_str(@_) },
  '+'      => sub { $_[0]->_shift_by( $_[1] ) },
  '-'      => sub { $_[2] ? undef : $_[0]->_shift_by( -$_[1] ) },
  '*'      => sub { $_[0]->_scale( $_[1], 0 ) },
  '/'      => sub { $_[2] ? undef : $_[0]->_scale( $_[1], 1 ) },
  '%'      => sub { $_[2] ? undef : $_[0]->_serial_result( $_[0]->{serial} % $_[1] ) },
  fallback => 1;

# The drafts of the protocol, newest first. Each: the draft name, its type
# and revision, the value of the version header it uses (none before
# draft-ietf-hybi-00), the date it was issued. An IETF draft expires 185
# days after its issue. The serial, our ordering, is the revision for hybi
# drafts and the revision - 77 for the earlier hixie ones.
my @HYBI = (
    # revision, version, issued
    [ 17, 13, '2011-09-30' ], [ 16, 13, '2011-09-27' ], [ 15, 13, '2011-09-17' ],
    [ 14, 13, '2011-09-08' ], [ 13, 13, '2011-08-31' ], [ 12, 8,  '2011-08-24' ],
    [ 11, 8,  '2011-08-23' ], [ 10, 8,  '2011-07-11' ], [ 9,  8,  '2011-06-13' ],
    [ 8,  8,  '2011-06-07' ], [ 7,  7,  '2011-04-22' ], [ 6,  6,  '2011-02-25' ],
    [ 5,  5,  '2011-02-08' ], [ 4,  4,  '2011-01-11' ], [ 3,  2,  '2010-10-17' ],
    [ 2,  2,  '2010-09-24' ], [ 1,  1,  '2010-08-31' ], [ 0,  0,  '2010-05-23' ],
);
my %HIXIE_ISSUED = ( 76 => '2010-05-06', 75 => '2010-02-04' );

my ( @DRAFTS, %BY_DRAFT, %BY_SERIAL );
for my $d (@HYBI) {
    my ( $rev, $ver, $issued ) = @$d;
    push @DRAFTS, {
        draft    => sprintf( 'draft-ietf-hybi-%02d', $rev ),
        type     => 'hybi',
        revision => $rev,
        serial   => $rev,
        version  => $ver,
        issued   => $issued,
        status   => $rev == 0 ? 'obsolete' : 'draft',
    };
}
for my $rev ( reverse 0 .. 76 ) {
    push @DRAFTS, {
        draft    => "draft-hixie-$rev",
        type     => 'hixie',
        revision => $rev,
        serial   => $rev - 77,
        version  => undef,
        issued   => $HIXIE_ISSUED{$rev},
        status   => $rev == 76 ? 'obsolete' : 'draft',
    };
}
for my $i ( 0 .. $#DRAFTS ) {
    $DRAFTS[$i]{offset} = $i;
    $BY_DRAFT{ $DRAFTS[$i]{draft} }   = $DRAFTS[$i];
    $BY_SERIAL{ $DRAFTS[$i]{serial} } = $DRAFTS[$i];
}

# The draft (its record) named by a draft name in any of its usual
# spellings: draft-ietf-hybi-17, draft-ietf-hybi-thewebsocketprotocol-17,
# hybi-17, draft-hixie-76, draft-hixie-thewebsocketprotocol-76, hixie-76,
# rfc6455.
sub _find_draft {
    my ($name) = @_;
    return unless defined $name;
    my $n = lc $name;
    $n =~ s/\A\s+|\s+\z//g;
    return $DRAFTS[0] if $n eq 'rfc6455' || $n eq 'rfc-6455';
    return unless $n =~ /\A(?:draft-)?(?:ietf-)?(hybi|hixie)-(?:thewebsocketprotocol-)?(\d{1,2})\z/;
    my ( $type, $rev ) = ( $1, 0 + $2 );
    return $BY_DRAFT{ $type eq 'hybi' ? sprintf( 'draft-ietf-hybi-%02d', $rev ) : "draft-hixie-$rev" };
}

# The newest draft using the protocol version $v.
sub _find_version {
    my ($v) = @_;
    for my $d (@DRAFTS) {
        return $d if defined $d->{version} && $d->{version} == $v;
    }
    return;
}

sub new {
    my $class = shift;
    my $what;
    $what = shift
      if @_ && ref $_[0] ne 'HASH' && ( @_ % 2 || ( @_ == 2 && ref $_[1] eq 'HASH' ) );
    @_ = %{ $_[0] } if @_ == 1 && ref $_[0] eq 'HASH';
    return $class->_fail( -2, 'WebSocket::Version->new: expects a version or draft, then options' )
      if @_ % 2;
    my %opts = @_;
    # new( { draft => ..., debug => ... } ) or a dictionary as get_dictionary returns it
    $what = delete $opts{draft} // delete $opts{version} if !defined $what;
    if ( !defined $what && defined $opts{serial} ) {
        my $d = $BY_SERIAL{ $opts{serial} } or return $class->_fail( -2, "no WebSocket draft has the serial '$opts{serial}'" );
        $what = $d->{draft};
    }
    delete @opts{qw( serial type revision status issued expires offset )};
    my $record;
    if ( !defined $what || $what eq '' ) {
        return $class->_fail( -2, 'WebSocket::Version->new: no version or draft was given' );
    }
    elsif ( _isa_self($what) ) {
        $record = $BY_DRAFT{ $what->{draft} };
    }
    elsif ( $what =~ /\A\s*(\d+)\s*\z/ ) {
        $record = _find_version( 0 + $1 )
          or return $class->_fail( -2, "'$what' is not a WebSocket protocol version (0 to 8, or 13)" );
    }
    else {
        $record = _find_draft($what) or return $class->_fail( -2, "'$what' is not a known WebSocket draft" );
    }
    my $self = bless { %$record, debug => $opts{debug}, fatal => $opts{fatal} }, ref $class || $class;
    return $self;
}

sub _isa_self { Scalar::Util::blessed( $_[0] ) && $_[0]->isa(__PACKAGE__) }

sub get_dictionary {
    my $self = shift;
    my %opts = @_ == 1 && ref $_[0] eq 'HASH' ? %{ $_[0] } : @_ % 2 ? () : @_;
    my $d;
    if ( defined $opts{draft} ) {
        $d = _find_draft( $opts{draft} );
    }
    elsif ( defined $opts{serial} ) {
        $d = $BY_SERIAL{ $opts{serial} };
    }
    elsif ( defined $opts{revision} ) {
        my $type = $opts{type} // 'hybi';
        $d = _find_draft("$type-$opts{revision}");
    }
    elsif ( defined $opts{version} ) {
        $d = _find_version( $opts{version} ) if $opts{version} =~ /\A\d+\z/;
    }
    else {
        return $self->_fail( -2, 'get_dictionary: expects draft, serial, revision (and type) or version' );
    }
    return $self->_fail( -2, 'get_dictionary: no such WebSocket draft' ) unless $d;
    my %copy = %$d;
    $copy{expires} = _expiry( $copy{issued} );
    return \%copy;
}

sub new_from_request {
    my ( $class, $req, @opts ) = @_;
    my $h =
        Scalar::Util::blessed($req) && $req->can('headers') ? $req->headers
      : Scalar::Util::blessed($req) && $req->isa('HTTP::Headers') ? $req
      :   return $class->_fail( -2, 'new_from_request: expects a WebSocket::Request (or headers)' );
    my $v = $h->header('Sec-WebSocket-Version');
    if ( defined $v && $v =~ /\A\s*(\d+)\s*\z/ ) {
        return $class->new( $1, @opts );
    }
    return $class->new( 'draft-ietf-hybi-03', @opts ) if defined $h->header('Sec-WebSocket-Draft');
    return $class->new( 'draft-ietf-hybi-00', @opts ) if defined $h->header('Sec-WebSocket-Key1');
    return $class->new( 'draft-hixie-75', @opts ) if defined $h->header('Upgrade');
    return $class->_fail( -2, 'new_from_request: the request does not say which WebSocket version it uses' );
}

sub as_string { $_[0]->{version} }
sub numify    { $_[0]->{version} }
sub version   { $_[0]->{version} }
sub draft     { $_[0]->{draft} }
sub revision  { $_[0]->{revision} }
sub serial    { $_[0]->{serial} }
sub status    { $_[0]->{status} }
sub type      { $_[0]->{type} }
sub offset    { $_[0]->{offset} }

sub issued {
    my $d = $_[0]->{issued};
    return defined $d ? Time::Piece->strptime( $d, '%Y-%m-%d' ) : undef;
}

sub expires {
    my $d = _expiry( $_[0]->{issued} );
    return defined $d ? Time::Piece->strptime( $d, '%Y-%m-%d' ) : undef;
}

sub _expiry {
    my ($issued) = @_;
    return undef unless defined $issued;
    my $t = Time::Piece->strptime( $issued, '%Y-%m-%d' ) + 185 * Time::Seconds::ONE_DAY;
    return $t->ymd;
}

sub next     { $_[0]->_at_offset( $_[0]->{offset} - 1 ) }
sub previous { $_[0]->_at_offset( $_[0]->{offset} + 1 ) }
sub prev     { $_[0]->previous }

sub _at_offset {
    my ( $self, $offset ) = @_;
    return if $offset < 0 || $offset > $#DRAFTS;
    return $self->new( $DRAFTS[$offset]{draft}, debug => $self->{debug} );
}

sub _serial_result {
    my ( $self, $serial ) = @_;
    return if !defined $serial || $serial != int($serial) || !$BY_SERIAL{$serial};
    return $self->new( $BY_SERIAL{$serial}{draft}, debug => $self->{debug} );
}

sub _shift_by {
    my ( $self, $n ) = @_;
    return unless defined $n && !ref $n && $n =~ /\A-?\d+\z/;
    return $self->_serial_result( $self->{serial} + $n );
}

sub _scale {
    my ( $self, $n, $divide ) = @_;
    return unless defined $n && !ref $n && $n =~ /\A-?\d+(?:\.\d+)?\z/ && ( !$divide || $n != 0 );
    return $self->_serial_result( $divide ? $self->{serial} / $n : $self->{serial} * $n );
}

# What the other operand of a comparison is compared on: another version
# (or a draft name) by serial, a plain number by protocol version.
sub _compare_num {
    my ( $self, $other, $swap ) = @_;
    my $r;
    if ( _isa_self($other) ) {
        $r = $self->{serial} <=> $other->{serial};
    }
    elsif ( defined $other && !ref $other && $other =~ /\A\s*-?\d+(?:\.\d+)?\s*\z/ ) {
        # A draft without a version number sorts before every number.
        $r = defined $self->{version} ? $self->{version} <=> $other : -1;
    }
    elsif ( my $d = _find_draft($other) ) {
        $r = $self->{serial} <=> $d->{serial};
    }
    else {
        return undef;
    }
    return $swap ? -$r : $r;
}

sub _compare_str {
    my ( $self, $other, $swap ) = @_;
    my $r;
    if ( _isa_self($other) || _find_draft($other) ) {
        $r = _compare_num( $self, $other, 0 );
    }
    else {
        $r = "$self" cmp( defined $other ? "$other" : '' );
    }
    return $swap ? -$r : $r;
}

1;

__END__

=head1 NAME

WebSocket::Version - a version of the WebSocket protocol: its number and its draft

=head1 SYNOPSIS

    use WebSocket::Version;
    use WebSocket::Request;
    my $request = WebSocket::Request->new( headers => [ 'Sec-WebSocket-Version' => 13 ] );
    my $v = WebSocket::Version->new(13) || die( WebSocket::Version->error, "\n" );
    my $d = WebSocket::Version->new('draft-ietf-hybi-17') || die( WebSocket::Version->error, "\n" );
    my $r = WebSocket::Version->new_from_request($request) || die( WebSocket::Version->error, "\n" );
    print $v->numify, "\n";            # 13
    print $v->draft, "\n";             # draft-ietf-hybi-17
    print "Version is: $v\n";          # Version is: 13
    print "current\n" if $v == 13 && $v > 8;
    my $older = $v - 1;                # draft-ietf-hybi-16, still version 13
    print $older->previous->draft, "\n";   # draft-ietf-hybi-15

=head1 DESCRIPTION

The WebSocket protocol went through the drafts C<draft-hixie-00> to
C<draft-hixie-76>, then C<draft-ietf-hybi-00> to C<draft-ietf-hybi-17>,
the text that became RFC 6455. From C<draft-ietf-hybi-04> on, a request
names its protocol version in the C<Sec-WebSocket-Version> header; that
number changed only with the drafts that changed the wire protocol:

    draft-ietf-hybi-13 .. 17   13   (RFC 6455, the only one libwebsocket speaks)
    draft-ietf-hybi-08 .. 12    8
    draft-ietf-hybi-07          7
    draft-ietf-hybi-06          6
    draft-ietf-hybi-05          5
    draft-ietf-hybi-04          4
    draft-ietf-hybi-02 .. 03    2   (header Sec-WebSocket-Draft)
    draft-ietf-hybi-01          1
    draft-ietf-hybi-00          0   (same handshake as draft-hixie-76)
    draft-hixie-00 .. 76        -   (no version number)

An object is one draft. Made from a number, it is the newest draft using
that number (13 gives C<draft-ietf-hybi-17>). Drafts are ordered by an
internal C<serial>, so that they compare and count even before version
numbers existed.

Errors follow the binding's model (L<WebSocket::Exception>): a failing
constructor returns C<undef> and C<< WebSocket::Version->error >> tells
why.

=head1 CONSTRUCTORS

=head2 new( $number_or_draft [, debug => $n ] )

From a protocol version number (0 to 8, or 13; 9 to 12 were never used),
or a draft name: C<draft-ietf-hybi-17>, also spelt
C<draft-ietf-hybi-thewebsocketprotocol-17> or C<hybi-17>, C<draft-hixie-76>,
or C<rfc6455>. Options come as pairs or a hash reference; C<debug> is kept
and does nothing. A hash reference alone may instead name the draft
(C<< { draft => ... } >>, C<< { version => 13 } >> or
C<< { serial => 17 } >>), as returned by C<get_dictionary>.

=head2 new_from_request( $request )

The version a handshake request uses, from its headers
(a L<WebSocket::Request>, anything with a C<headers> method, or an
L<HTTP::Headers>): the C<Sec-WebSocket-Version> number; else
C<draft-ietf-hybi-03> with a C<Sec-WebSocket-Draft> header,
C<draft-ietf-hybi-00> with C<Sec-WebSocket-Key1>, C<draft-hixie-75> for
any other upgrade request; C<undef> with C<error> set otherwise.

=head2 get_dictionary( %options )

A class or object method: the facts of one draft as a hash reference
(C<draft>, C<type>, C<revision>, C<serial>, C<version>, C<status>,
C<issued>, C<expires> as C<YYYY-MM-DD> strings or C<undef>, C<offset>).
The draft is chosen by C<draft> (a name), C<serial>, C<revision> with
C<type> (C<hybi>, the default, or C<hixie>), or C<version> (the newest
draft with that number). C<undef> with C<error> set when there is no such
draft or no option.

=head1 METHODS

=head2 as_string, numify, version

The protocol version number (13), or C<undef> for the drafts before
C<draft-ietf-hybi-00>, which had none. The object stringifies to it (the
empty string for those drafts).

=head2 draft

The draft name, such as C<draft-ietf-hybi-17> or C<draft-hixie-76>.

=head2 type

C<hybi> or C<hixie>.

=head2 revision

The draft's revision number: 17 for C<draft-ietf-hybi-17>.

=head2 serial

The internal ordering number: the revision for C<hybi> drafts, the
revision minus 77 for C<hixie> drafts (C<draft-hixie-76> is -1).

=head2 status

C<draft>, or C<obsolete> for C<draft-ietf-hybi-00> and C<draft-hixie-76>.

=head2 issued, expires

When the draft was published and when it expired (185 days later), as
L<Time::Piece> objects (C<< ->ymd >>, C<< ->year >>, ...); C<undef> for the
early hixie drafts whose dates we do not list.

=head2 offset

The draft's position in our list of drafts, 0 being the newest
(C<draft-ietf-hybi-17>).

=head2 next, previous, prev

The next newer or older draft as a new object, or C<undef> past either
end. Several drafts share a version number: C<< new(13)->previous >> is
C<draft-ietf-hybi-16>, still version 13.

=head1 OPERATORS

=over 4

=item C<""> and C<0+>

The version number (see C<as_string>); C<0+> gives -1 for drafts without
one.

=item C<< <=> >>, C<< < >>, C<< <= >>, C<< > >>, C<< >= >>, C<==>, C<!=>

Against another version object or a draft name: by draft order (serial).
Against a plain number: by protocol version number, so C<< $v == 13 >> is
true for every draft from C<draft-ietf-hybi-13> to 17, and a draft without
a number is lower than any number.

=item C<cmp>, C<eq>, C<ne>, C<lt>, ...

Against another version object or a draft name, as C<< <=> >>; against
anything else, as strings (C<< $v eq '13' >>).

=item C<+>, C<->, C<*>, C</>, C<%>

Arithmetic on the serial: C<< $v - 1 >> is the draft before. When the
result is no draft (out of range, or a fraction) it is C<undef>.

=item C<bool>

Always true: an object is a draft (unlike its number, which is 0 or
C<undef> for the oldest drafts).

=back

=cut

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Digest::SHA ();
use MIME::Base64 ();
use File::Temp ();

# The helper classes modelled on the CPAN WebSocket distribution: pure Perl,
# no library needed (except make_frame, tested when the library loads).

use_ok($_) for qw(
  WebSocket::Base WebSocket::Array WebSocket::Version WebSocket::HeaderValue WebSocket::Extension
  WebSocket::Headers WebSocket::Common WebSocket::Request WebSocket::Response WebSocket::Handshake
  WebSocket::Handshake::Client WebSocket::Handshake::Server
);

my $RFC_KEY    = 'dGhlIHNhbXBsZSBub25jZQ==';
my $RFC_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';    # RFC 6455 section 1.3

# ---------------------------------------------------------------- Array
{
    my $a = WebSocket::Array->new( [qw( Joe John Mary )] );
    isa_ok( $a, 'WebSocket::Array' );
    is( $a->length, 3, 'Array length' );
    is( WebSocket::Array->new(qw( a b ))->length, 2, 'new from a list' );
    ok( !$a->is_empty, 'is_empty false' );
    ok( WebSocket::Array->new->is_empty, 'is_empty true' );
    ok( !WebSocket::Array->new, 'an empty array is false' );
    ok( $a ? 1 : 0, 'a non-empty one true' );
    ok( $a == 3, 'numeric context: the length' );
    is( $a + 0, 3, '... 0+' );
    ok( WebSocket::Array->new(qw( x y )) eq 'x y', 'eq compares the strings' );
    is( $a->first, 'Joe',  'first' );
    is( $a->last,  'Mary', 'last' );
    is( $a->get(1),   'John', 'get' );
    is( $a->get(-1),  'Mary', 'get negative' );
    is( $a->index(2), 'Mary', 'index is get' );
    is( "$a", 'Joe John Mary', 'stringifies' );
    is( $a->as_string, 'Joe John Mary', 'as_string' );
    is( scalar(@$a), 3,      'used as an array ref' );
    is( $a->[0],     'Joe',  '... element' );
    is_deeply( [ $a->list ], [qw( Joe John Mary )], 'list' );
    is( $a->push( 'Jack', 'Jill' ), $a, 'push returns the array' );
    is( $a->length, 5, '... and adds' );
    push @$a, 'Zoe';
    is( $a->last, 'Zoe', 'a push on @$a is seen' );
    is( $a->pop,   'Zoe',  'pop' );
    is( $a->shift, 'Joe',  'shift' );
    $a->unshift('Joe');
    is( $a->first, 'Joe', 'unshift' );
    ok( $a->exists('Mary'),    'exists' );
    ok( !$a->exists('Nobody'), 'exists false' );
    ok( $a->contains('Jack') && $a->has('Jill'), 'contains, has' );
    is( $a->pos('Mary'),   2,  'pos' );
    is( $a->pos('Nobody'), -1, 'pos missing' );

    my @seen;
    is( $a->for( sub { push @seen, "$_[0]=$_[1]" } ), $a, 'for returns the array' );
    is( "@seen", '0=Joe 1=John 2=Mary 3=Jack 4=Jill', 'for gets index and value' );
    @seen = ();
    $a->each( sub { push @seen, $_; $a->break if $_ eq 'John' } );
    is( "@seen", 'Joe John', 'each with break' );
    @seen = ();
    $a->foreach( sub { push @seen, uc $_[0] } );
    is( "@seen", 'JOE JOHN MARY JACK JILL', 'foreach gets the value' );
    @seen = ();
    $a->foreach( sub { push @seen, $_; 0 } );
    is( scalar @seen, 5, 'what the code returns does not stop the loop' );

    my $jo = $a->grep(qr/^Jo/);
    isa_ok( $jo, 'WebSocket::Array', 'grep result' );
    is( "$jo", 'Joe John', 'grep with a regex' );
    is( $a->grep( sub { $_ eq 'John' } )->length, 1, 'grep with code' );
    is( $a->grep('Mary')->length, 1, 'grep with a string' );
    is( $a->map( sub { lc } )->join(','), 'joe,john,mary,jack,jill', 'map and join' );
    is( $a->sort->first, 'Jack', 'sort' );
    is( $a->sort( sub { $_[1] cmp $_[0] } )->first, 'Mary', 'sort with code' );
    is( $a->reverse->first, 'Jill', 'reverse' );
    is( WebSocket::Array->new(qw( a b a ))->unique->join, 'ab', 'unique' );
    my $c = $a->clone;
    $c->push('X');
    is( $a->length, 5, 'clone is a copy' );
    is( $c->set( 0, 'Y' )->first, 'Y', 'set' );
    is( $c->remove( 'Y', 'X' )->length, 4, 'remove' );
    is( scalar $c->splice( 0, 2 )->length, 2, 'splice in scalar context' );
    is( $c->length, 2, '... removed' );
    is_deeply( [ $c->splice(1) ], ['Jill'], 'splice to the end' );
    is( ref $c->as_array, 'ARRAY', 'as_array' );
    is_deeply( $c->TO_JSON, ['Jack'], 'TO_JSON' );
    ok( $c->reset->is_empty, 'reset' );
    ok( $a->clone->empty->is_empty, 'empty' );
}

# ---------------------------------------------------------------- Version
{
    # SYNOPSIS of the CPAN distribution
    my $ver = WebSocket::Version->new('draft-ietf-hybi-17') || die( WebSocket::Version->error, "\n" );
    $ver = WebSocket::Version->new(13) || die( WebSocket::Version->error, "\n" );
    my $req = WebSocket::Request->new( headers => [ 'Sec-WebSocket-Version' => 13 ] );
    $ver = WebSocket::Version->new_from_request($req) || die( WebSocket::Version->error, "\n" );
    is( $ver->numify, 13,                   'numify' );
    is( $ver->draft,  'draft-ietf-hybi-17', 'draft' );
    is( "Version is: $ver", 'Version is: 13', 'stringifies to the number' );

    my $v = WebSocket::Version->new(13);
    is( $v->as_string, 13,       'as_string' );
    is( $v->version,   13,       'version' );
    is( $v->type,      'hybi',   'type' );
    is( $v->revision,  17,       'revision' );
    is( $v->serial,    17,       'serial' );
    is( $v->status,    'draft',  'status' );
    is( $v->offset,    0,        'offset of the newest' );
    isa_ok( $v->issued, 'Time::Piece', 'issued' );
    is( $v->issued->ymd,  '2011-09-30', 'issued date' );
    is( $v->expires->ymd, '2012-04-02', 'expires 185 days later' );
    is( WebSocket::Version->new(8)->draft, 'draft-ietf-hybi-12', 'a number gives its newest draft' );
    is( WebSocket::Version->new(2)->draft, 'draft-ietf-hybi-03', 'version 2' );
    is( WebSocket::Version->new(0)->draft, 'draft-ietf-hybi-00', 'version 0' );
    is( WebSocket::Version->new('rfc6455')->draft, 'draft-ietf-hybi-17', 'rfc6455' );
    is( WebSocket::Version->new('draft-ietf-hybi-thewebsocketprotocol-10')->version, 8, 'long draft name' );
    is( WebSocket::Version->new('hybi-07')->version, 7, 'short draft name' );
    is( WebSocket::Version->new( 13, debug => 3 )->debug, 3, 'debug option' );
    is( WebSocket::Version->new( 13, { debug => 2 } )->debug, 2, 'options as a hash reference' );
    is( WebSocket::Version->new( { draft => 'draft-ietf-hybi-08' } )->version, 8, 'draft in a hash reference' );
    is( WebSocket::Version->new( { serial => 5 } )->draft, 'draft-ietf-hybi-05', 'serial in a hash reference' );

    my $hixie = WebSocket::Version->new('draft-hixie-76');
    is( $hixie->type,     'hixie',    'hixie type' );
    is( $hixie->revision, 76,         'hixie revision' );
    is( $hixie->serial,   -1,         'hixie serial' );
    is( $hixie->status,   'obsolete', 'hixie-76 obsolete' );
    ok( !defined $hixie->as_string, 'no version number before hybi-00' );
    is( "$hixie", '', '... stringifies empty' );
    ok( $hixie ? 1 : 0, '... but is true' );
    ok( !defined WebSocket::Version->new('draft-hixie-20')->issued, 'unknown dates are undef' );

    # comparisons
    ok( $v == 13,  '== a number compares the version' );
    ok( WebSocket::Version->new('draft-ietf-hybi-14') == 13, 'every draft 13..17 is 13' );
    ok( $v > 8,    '> a number' );
    ok( $v != 8,   '!= a number' );
    ok( $hixie < 0, 'a draft without number is below any number' );
    my $v8 = WebSocket::Version->new(8);
    ok( $v8 < $v,  '< an object' );
    ok( $v >= $v8, '>= an object' );
    is( $v <=> $v8, 1,  '<=> objects' );
    is( $v8 <=> $v, -1, '<=> reversed' );
    is( $v <=> WebSocket::Version->new('draft-ietf-hybi-17'), 0, '<=> equal' );
    ok( $v > 'draft-ietf-hybi-16', 'against a draft name' );
    ok( $v eq 'draft-ietf-hybi-17', 'eq a draft name' );
    ok( $v eq '13', 'eq a number string' );
    ok( $v ne $v8,  'ne' );
    is( $v cmp $v8, 1, 'cmp objects' );
    is_deeply( [ map { $_->draft } sort { $a <=> $b } $v, $hixie, $v8 ],
        [qw( draft-hixie-76 draft-ietf-hybi-12 draft-ietf-hybi-17 )], 'sort by <=>' );

    # arithmetic, next, previous
    is( ( $v - 1 )->draft, 'draft-ietf-hybi-16', 'minus one' );
    is( ( $v8 + 2 )->draft, 'draft-ietf-hybi-14', 'plus two' );
    ok( !defined( $v + 1 ), 'past the newest: undef' );
    ok( !defined( $v * 2 ), 'out of range: undef' );
    ok( !defined( $v / 2 ), 'a fraction: undef' );
    is( ( WebSocket::Version->new('hybi-16') / 2 )->draft, 'draft-ietf-hybi-08', 'division' );
    is( ( $v % 10 )->draft, 'draft-ietf-hybi-07', 'modulo' );
    is( $v->previous->draft, 'draft-ietf-hybi-16', 'previous' );
    is( $v->prev->draft,     'draft-ietf-hybi-16', 'prev' );
    is( $v8->next->draft,    'draft-ietf-hybi-13', 'next' );
    ok( !defined $v->next, 'no next after the newest' );
    is( WebSocket::Version->new('draft-ietf-hybi-00')->previous->draft, 'draft-hixie-76', 'hybi-00 follows hixie-76' );
    ok( !defined WebSocket::Version->new('draft-hixie-0')->previous, 'nothing before hixie-0' );

    # get_dictionary
    my $d = WebSocket::Version->get_dictionary( draft => 'draft-ietf-hybi-10' );
    is( $d->{version}, 8,            'get_dictionary by draft' );
    is( $d->{expires}, '2012-01-12', '... with expiry' );
    is( WebSocket::Version->get_dictionary( version => 13 )->{draft}, 'draft-ietf-hybi-17', 'by version' );
    is( WebSocket::Version->get_dictionary( serial => -1 )->{draft}, 'draft-hixie-76', 'by serial' );
    is( WebSocket::Version->get_dictionary( revision => 75, type => 'hixie' )->{draft}, 'draft-hixie-75', 'by revision and type' );
    is( $v->get_dictionary( { revision => 4 } )->{version}, 4, 'on an object, hash reference, hybi by default' );
    ok( !defined WebSocket::Version->get_dictionary(), 'no option: undef' );
    like( WebSocket::Version->error, qr/expects/, '... with error' );
    ok( !defined WebSocket::Version->get_dictionary( version => 10 ), 'unused version: undef' );

    # errors
    for my $bad ( 9, 12, 14, 'draft-ietf-hybi-18', 'nonsense', '' ) {
        ok( !defined WebSocket::Version->new($bad), "new('$bad') is undef" );
        isa_ok( WebSocket::Version->error, 'WebSocket::Exception', '... error' );
    }
    is( WebSocket::Version->error->code, -2, 'error code -2' );
    ok( !defined WebSocket::Version->new(), 'new() is undef' );
    ok( !eval { WebSocket::Version->new(99); 1 } ? 0 : 1, 'a bad version does not die' );

    # new_from_request
    my $old = WebSocket::Request->new( headers => [ 'Sec-WebSocket-Key1' => '1 2', Upgrade => 'WebSocket' ] );
    is( WebSocket::Version->new_from_request($old)->draft, 'draft-ietf-hybi-00', 'two-key request' );
    my $draft = WebSocket::Request->new( headers => [ 'Sec-WebSocket-Draft' => 2 ] );
    is( WebSocket::Version->new_from_request($draft)->version, 2, 'Sec-WebSocket-Draft request' );
    my $h75 = WebSocket::Request->new( headers => [ Upgrade => 'WebSocket' ] );
    is( WebSocket::Version->new_from_request($h75)->draft, 'draft-hixie-75', 'oldest request' );
    is( WebSocket::Version->new_from_request( WebSocket::Headers->new( 'Sec-WebSocket-Version' => 8 ) )->version,
        8, 'from headers' );
    ok( !defined WebSocket::Version->new_from_request( WebSocket::Request->new ), 'a request saying nothing: undef' );
    ok( !defined WebSocket::Version->new_from_request('x'), 'not a request: undef' );
}

# ---------------------------------------------------------------- HeaderValue
{
    # SYNOPSIS of the CPAN distribution
    my $hv = WebSocket::HeaderValue->new('foo') || die( WebSocket::HeaderValue->error, "\n" );
    $hv = WebSocket::HeaderValue->new( 'foo', bar => 2 ) || die( WebSocket::HeaderValue->error, "\n" );
    is( "SomeHeader: $hv", 'SomeHeader: foo; bar=2', 'SYNOPSIS' );

    is( WebSocket::HeaderValue->new( 'foo', { bar => 2, debug => 1 } )->as_string, 'foo; bar=2', 'hash reference' );
    is( WebSocket::HeaderValue->new( 'foo', params => { a => 1, b => 'x y' } )->as_string,
        'foo; a=1; b="x y"', 'params option, values quoted when needed' );
    my $o = WebSocket::HeaderValue->new( 'foo', original => 'foo;bar=2' );
    is( "$o", 'foo;bar=2', 'original is used while nothing changes' );
    is( $o->original, 'foo;bar=2', 'original' );
    $o->param( x => 1 );
    is( "$o", 'foo; x=1', 'a change forgets it' );

    my $ct = WebSocket::HeaderValue->new_from_header(q{text/html; Charset="utf-8"; q="a;b\"c"; flag});
    is( $ct->value, 'text/html', 'new_from_header value' );
    is( $ct->param('charset'), 'utf-8', 'names lower-cased, value unquoted' );
    is( $ct->param('q'), 'a;b"c', 'quoted separator and escape' );
    ok( $ct->has_param('flag') && !defined $ct->param('flag'), 'a bare parameter' );
    is_deeply( [ $ct->param_names ], [qw( charset q flag )], 'param_names in order' );
    is_deeply( $ct->params, { charset => 'utf-8', q => 'a;b"c', flag => undef }, 'params' );
    is( "$ct", q{text/html; Charset="utf-8"; q="a;b\"c"; flag}, 'stringifies to the parsed text' );
    is( $ct->reset->as_string, q{text/html; charset=utf-8; q="a;b\"c"; flag}, 'reset, then as_string builds it' );
    is( $ct->remove_param('q')->as_string, 'text/html; charset=utf-8; flag', 'remove_param' );
    is( $ct->value('text/plain')->as_string, 'text/plain; charset=utf-8; flag', 'value sets' );
    is( $ct->params( { z => 1 } )->as_string, 'text/plain; z=1', 'params replaces' );
    is( WebSocket::HeaderValue->new_from_header( 'a, b=1', ',' )->param('b'), 1, 'another separator' );

    my $multi = WebSocket::HeaderValue->new_from_multi('a; x=1, b; y="p, q", c');
    isa_ok( $multi, 'WebSocket::Array', 'new_from_multi' );
    is( $multi->length, 3, '... three values' );
    is( $multi->get(1)->param('y'), 'p, q', '... a comma in quotes does not split' );
    is( $multi->last->value, 'c', '... trimmed' );

    is( $hv->qstring('token'),     'token',         'qstring token' );
    is( $hv->qstring('two words'), '"two words"',   'qstring quotes' );
    is( $hv->qstring('a"b\\c'),    '"a\\"b\\\\c"',  'qstring escapes' );
    ok( !defined $hv->qstring("a\nb"), 'qstring refuses a line break' );
    is( $hv->token_escape('a b/é'), 'a%20b%2F%C3%A9', 'token_escape' );
    is( $hv->token_unescape('a%20b%2F'), 'a b/', 'token_unescape' );

    for my $bad ( undef, '', "a\nb" ) {
        ok( !defined WebSocket::HeaderValue->new($bad), 'new with a bad value: undef' );
    }
    ok( !defined WebSocket::HeaderValue->new_from_header('a; b="x'), 'unclosed quote: undef' );
    like( WebSocket::HeaderValue->error, qr/not closed/, '... error' );
    ok( !defined WebSocket::HeaderValue->new_from_header('a; b@=1'), 'bad parameter name: undef' );
    ok( !defined WebSocket::HeaderValue->new_from_header(' ; x=1'), 'no value: undef' );
    ok( !defined WebSocket::HeaderValue->new_from_multi(''), 'new_from_multi empty: undef' );
    ok( !defined WebSocket::HeaderValue->new_from_multi(' , ,'), 'new_from_multi of commas only: undef' );
    is( WebSocket::HeaderValue->new_from_multi('a,,b')->length, 2, 'empty elements skipped' );
    my $bad = WebSocket::HeaderValue->new('v')->param( 'bad name' => 1 );
    ok( !defined $bad->as_string, 'as_string with a bad name: undef' );
    like( $bad->error, qr/not a valid parameter name/, '... error on the object' );
    $bad->fatal(1);
    ok( !eval { $bad->as_string; 1 }, 'fatal dies' );
    isa_ok( $@, 'WebSocket::Exception' );
}

# ---------------------------------------------------------------- Extension
{
    # SYNOPSIS of the CPAN distribution
    my $ext = WebSocket::Extension->new('permessage-deflate') || die( WebSocket::Extension->error, "\n" );
    isa_ok( $ext, 'WebSocket::HeaderValue' );
    is( $ext->extension, 'permessage-deflate', 'extension' );
    is( $ext->name,      'permessage-deflate', 'name' );
    ok( $ext->is_deflate, 'is_deflate' );
    ok( !$ext->server_no_context_takeover, 'flag absent' );
    $ext->client_max_window_bits('');
    $ext->server_no_context_takeover(1);
    is( "$ext", 'permessage-deflate; client_max_window_bits; server_no_context_takeover', 'as_string' );
    is( $ext->client_max_window_bits, 1, 'bare window bits' );
    ok( $ext->server_no_context_takeover, 'flag present' );
    $ext->client_no_context_takeover(1)->server_max_window_bits(10)->client_max_window_bits(12);
    is( $ext->server_max_window_bits, 10, 'server_max_window_bits' );
    is( $ext->client_max_window_bits, 12, 'client_max_window_bits' );
    ok( $ext->client_no_context_takeover, 'client_no_context_takeover' );
    is_deeply( $ext->parameters,
        { client_max_window_bits => 12, server_no_context_takeover => undef, client_no_context_takeover => undef,
          server_max_window_bits => 10 }, 'parameters' );
    ok( $ext->is_valid, 'is_valid' );
    $ext->server_no_context_takeover(0)->server_max_window_bits(undef);
    is( "$ext", 'permessage-deflate; client_max_window_bits=12; client_no_context_takeover', 'removing parameters' );
    ok( !defined $ext->server_max_window_bits, 'absent window bits' );
    ok( !defined $ext->server_max_window_bits(16), 'window bits 16 refused' );
    like( $ext->error, qr/8 to 15/, '... error' );
    ok( !defined $ext->server_max_window_bits(''), 'server window bits cannot be bare' );
    is( $ext->name('x-other')->name, 'x-other', 'name sets' );
    ok( !$ext->is_deflate, 'not deflate any more' );

    my @offers = WebSocket::Extension->parse('permessage-deflate; client_max_window_bits=10, x-webkit-deflate-frame');
    is( scalar @offers, 2, 'parse a header value' );
    isa_ok( $offers[1], 'WebSocket::Extension' );
    is( $offers[0]->client_max_window_bits, 10, '... parameters' );
    my $arr = WebSocket::Extension->parse('permessage-deflate');
    isa_ok( $arr, 'WebSocket::Array', 'parse in scalar context' );
    isa_ok( WebSocket::Extension->new_from_multi('a, b')->first, 'WebSocket::Extension', 'new_from_multi' );
    ok( !WebSocket::Extension->new_from_header('permessage-deflate; server_max_window_bits=99')->is_valid,
        'invalid deflate parameters' );
    ok( !WebSocket::Extension->new_from_header('permessage-deflate; server_no_context_takeover=1')->is_valid,
        'a flag with a value is invalid' );
    ok( !WebSocket::Extension->new_from_header('permessage-deflate; foo')->is_valid, 'unknown parameter invalid' );
    ok( WebSocket::Extension->new_from_header('x-any; foo=1')->is_valid, 'other extensions are valid' );
    is( scalar( my @none = WebSocket::Extension->parse('a; b="') ), 0, 'parse error: empty list' );
    ok( WebSocket::Extension->error, '... with error' );
}

# ---------------------------------------------------------------- Headers
{
    # SYNOPSIS of the CPAN distribution (the chaining on values adapted)
    my $h = WebSocket::Headers->new || die( WebSocket::Headers->error, "\n" );
    $h->header( 'Content-Type' => 'text/plain' );
    my $ct = $h->header('Content-Type');
    is( $ct, 'text/plain', 'header set and get' );
    isa_ok( $h, 'HTTP::Headers' );
    $h->header( connection => 'keep-alive, Upgrade', upgrade => 'WebSocket' );
    ok( $h->has_token( connection => 'upgrade' ), 'has_token' );
    ok( !$h->has_token( connection => 'close' ), 'has_token false' );
    is_deeply( [ $h->tokens('Connection') ], [ 'keep-alive', 'Upgrade' ], 'tokens' );
    is( lc $h->header('upgrade'), 'websocket', 'case-insensitive names' );
    is_deeply( [ $h->pairs ], [ Connection => 'keep-alive, Upgrade', Upgrade => 'WebSocket', 'Content-Type' => 'text/plain' ],
        'pairs' );
    like( $h->as_string("\r\n"), qr/\AConnection: keep-alive, Upgrade\r\n/, 'as_string with an eol' );
    is( $h->parse_lines( 'X-A: 1', ' continued', 'X-B:2' ), $h, 'parse_lines' );
    is( $h->header('X-A'), '1 continued', '... folded line' );
    is( $h->header('X-B'), '2', '... no space' );
    ok( !defined $h->parse_lines('not a header'), 'parse_lines error' );
    like( $h->error, qr/not a header line/, '... error on the object' );
    ok( !grep( { /error/i } $h->header_field_names ), '... which is no header' );
    like( WebSocket::Headers->error, qr/not a header line/, '... and on the class' );
    ok( !defined WebSocket::Headers->new->parse_lines(' folded first'), 'a folded first line' );
    isa_ok( $h->clone, 'WebSocket::Headers', 'clone' );
}

# ---------------------------------------------------------------- Common
{
    package Importer::common;
    use WebSocket::Common qw( :all );
    package main;
    is( Importer::common::PARSE_DONE(),       0,  'PARSE_DONE' );
    is( Importer::common::PARSE_INCOMPLETE(), -1, 'PARSE_INCOMPLETE' );
    is( Importer::common::PARSE_WAITING(),    -2, 'PARSE_WAITING' );
    is( Importer::common::PARSE_MAYBE_MORE(), -3, 'PARSE_MAYBE_MORE' );
    is( Importer::common::WEBSOCKET_DRAFT_VERSION_DEFAULT(), 'draft-ietf-hybi-17', 'WEBSOCKET_DRAFT_VERSION_DEFAULT' );
    is( Importer::common::WEBSOCKET_GUID(), '258EAFA5-E914-47DA-95CA-C5AB0DC85B11', 'WEBSOCKET_GUID' );
    is( Importer::common::WS_OK(), 1000, 'the close codes are re-exported' );
    is_deeply( [ map { Importer::common->can($_)->() } @WebSocket::WS_CONSTANTS ],
        [ map { WebSocket->can($_)->() } @WebSocket::WS_CONSTANTS ], '... all of WebSocket\'s, same values' );
    ok( eval "package Importer::ws; use WebSocket::Common qw( :ws ); WS_MESSAGE_TOO_LARGE() == 1009", ':ws tag' );
    ok( eval "package Importer::p; use WebSocket::Common qw( :parse ); PARSE_DONE() == 0", ':parse tag' );
    ok( !eval "package Importer::bad; use WebSocket::Common qw( NOPE ); 1", 'an unknown name is refused' );
    {
        package Importer::none;
        use WebSocket::Request;
    }
    ok( !defined &Importer::none::PARSE_DONE, 'subclasses export nothing' );

    is( WebSocket::Common->accept_for_key($RFC_KEY), $RFC_ACCEPT, 'accept_for_key: RFC 6455 sample' );
    my $k = WebSocket::Common->generate_key;
    like( $k, qr{\A[A-Za-z0-9+/]{22}==\z}, 'generate_key' );
    is( length MIME::Base64::decode_base64($k), 16, '... 16 bytes' );
    isnt( WebSocket::Common->generate_key, $k, '... random' );
    ok( WebSocket::Common->is_info(101) && WebSocket::Common->is_success(200), 'is_info, is_success' );
    ok( WebSocket::Common->is_redirect(302) && WebSocket::Common->is_error(404), 'is_redirect, is_error' );
    ok( WebSocket::Common->is_client_error(400) && WebSocket::Common->is_server_error(503), 'client/server error' );
    ok( !WebSocket::Common->is_error(101), 'is_error false' );
    is( WebSocket::Common->status_message(101), 'Switching Protocols', 'status_message' );
}

# ---------------------------------------------------------------- Request
my $RFC_REQUEST = join "\r\n", 'GET /chat?room=1 HTTP/1.1', 'Host: server.example.com', 'Upgrade: websocket',
  'Connection: Upgrade', "Sec-WebSocket-Key: $RFC_KEY", 'Origin: http://example.com',
  'Sec-WebSocket-Protocol: chat, superchat', 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits',
  'Sec-WebSocket-Version: 13', 'Cookie: lang=en', '', '';
{
    # SYNOPSIS of the CPAN distribution (its comma after uri restored)
    my $req = WebSocket::Request->new(
        host     => 'example.com',
        uri      => '/demo',
        protocol => 'com.example.chat',
    ) || die( WebSocket::Request->error, "\n" );
    my $headers = [ 'X-Test' => 1 ];
    my $buffer  = '';
    ok( WebSocket::Request->new( $headers, $buffer, host => 'example.com', origin => 'https://example.com' ),
        'new( $headers, $buffer, pairs )' );
    my $r2 = WebSocket::Request->new( $headers, 'body', { host => 'example.com', origin => 'https://example.com' } );
    ok( $r2, 'new( $headers, $buffer, \%opts )' );
    is( $r2->buffer, 'body', '... buffer' );
    is( $r2->host, 'example.com', '... options' );
    ok( WebSocket::Request->new( $headers, host => 'example.com', origin => 'https://example.com' ),
        'new( $headers, pairs )' );
    my $r4 = WebSocket::Request->new( HTTP::Headers->new( 'X-Test' => 2 ), { host => 'example.com', origin => 'https://example.com' } );
    is( $r4->header('X-Test'), 2, 'new( HTTP::Headers, \%opts )' );
    isa_ok( $r4->headers, 'WebSocket::Headers' );
    my $text = $req->as_string;
    like( $text, qr{\AGET /demo HTTP/1\.1\r\n}, 'as_string request line' );
    like( $text, qr{\r\nHost: example\.com\r\n}, '... Host' );
    like( $text, qr{\r\nUpgrade: websocket\r\n}, '... Upgrade' );
    like( $text, qr{\r\nConnection: Upgrade\r\n}, '... Connection' );
    like( $text, qr{\r\nSec-WebSocket-Key: [A-Za-z0-9+/]{22}==\r\n}, '... a key' );
    like( $text, qr{\r\nSec-WebSocket-Version: 13\r\n}, '... version 13' );
    like( $text, qr{\r\nSec-WebSocket-Protocol: com\.example\.chat\r\n}, '... protocol taken as the subprotocol' );
    like( $text, qr{\r\n\r\n\z}, '... ends with a blank line' );
    is( $req->protocol, 'HTTP/1.1', 'protocol stays HTTP/1.1' );
    my $key = $req->key;
    is( WebSocket::Request->new( host => 'h' )->as_string("\n") =~ tr/\r//, 0, 'as_string with another eol' );
    like( $req->as_string, qr/\Q$key\E/, 'the key is kept' );

    # SYNOPSIS parser of the CPAN distribution: a draft-ietf-hybi-00 request
    my $old = WebSocket::Request->new;
    ok( $old->parse(<<'EOT'), 'SYNOPSIS parse (two-key draft)' ) or diag $old->error;
GET /demo HTTP/1.1
Upgrade: WebSocket
Connection: Upgrade
Host: example.com
Origin: http://example.com
Sec-WebSocket-Key1: 18x 6]8vM;54 *(5:  {   U1]8  z [  8
Sec-WebSocket-Key2: 1_ tx7X d  <  nw  334J702) 7]o}` 0
Set-WebSocket-Version: 13

Tm[K T2u
EOT
    is( $old->version->draft, 'draft-ietf-hybi-00', '... its version' );
    is( $old->key1, '18x 6]8vM;54 *(5:  {   U1]8  z [  8', '... key1' );
    like( $old->key2, qr/\A1_ tx7X/, '... key2' );
    is( $old->buffer,  "Tm[K T2u\n", '... the rest is the buffer' );
    is( $old->content, "Tm[K T2u\n", '... content' );
    is( $old->upgrade, 'WebSocket', '... upgrade' );
    ok( !defined $old->as_string, 'as_string refuses the two-key draft' );
    is( $old->error->code, -4, '... not supported' );

    # An RFC 6455 request
    my $r = WebSocket::Request->new;
    is( $r, $r->parse($RFC_REQUEST), 'parse returns the object' );
    ok( $r->is_done, 'is_done' );
    is( $r->method, 'GET', 'method' );
    is( $r->protocol, 'HTTP/1.1', 'protocol' );
    isa_ok( $r->uri, 'URI' );
    is( $r->uri->as_string, 'ws://server.example.com/chat?room=1', 'uri absolute from Host' );
    is( $r->path_query, '/chat?room=1', 'path_query' );
    is( $r->host, 'server.example.com', 'host' );
    isa_ok( $r->origin, 'URI', 'origin' );
    is( $r->origin->host, 'example.com', '... its host' );
    is( $r->key, $RFC_KEY, 'key' );
    is( $r->accept, $RFC_ACCEPT, 'accept for the key' );
    is( $r->parse_body, $r, 'parse_body runs the checks again' );
    $r->headers->remove_header('Host');
    ok( !defined $r->parse_body, '... and fails without Host' );
    $r->host('server.example.com');
    is( $r->cookies, 'lang=en', 'cookies' );
    is( $r->connection, 'Upgrade', 'connection' );
    isa_ok( $r->version, 'WebSocket::Version' );
    is( $r->version, 13, 'version 13' );
    isa_ok( $r->subprotocol, 'WebSocket::Array' );
    is_deeply( [ @{ $r->subprotocol } ], [qw( chat superchat )], 'subprotocol' );
    is( $r->subprotocols->length, 2, 'subprotocols' );
    is( $r->extensions->length, 1, 'extensions' );
    isa_ok( $r->extensions->first, 'WebSocket::Extension' );
    is( $r->extensions->first->client_max_window_bits, 1, '... its parameter' );
    is( $r->header('sec-websocket-version'), 13, 'header' );
    like( $r->headers_as_string, qr/^Host: server\.example\.com$/m, 'headers_as_string' );
    is( $r->buffer, '', 'no buffer' );
    ok( !$r->secure, 'not secure' );
    is( $r->secure(1)->uri->scheme, 'wss', 'secure makes a wss uri' );
    is( $r->max_message_size, 20480, 'max_message_size' );

    # setters
    my $s = WebSocket::Request->new( uri => 'wss://example.com:8443/x?y=1' );
    is( $s->host, 'example.com:8443', 'an absolute uri sets the host with its port' );
    ok( $s->secure, '... and secure' );
    is( $s->uri->as_string, 'wss://example.com:8443/x?y=1', '... uri' );
    is( WebSocket::Request->new( uri => 'ws://example.com:80/' )->host, 'example.com', 'default port left out' );
    is( WebSocket::Request->new( uri => '/only/path' )->uri->as_string, '/only/path', 'relative without host' );
    is( $s->subprotocol('a b')->subprotocol->length, 2, 'subprotocol from a space list' );
    is( $s->subprotocol( [qw( x y z )] )->subprotocol->last, 'z', 'subprotocol from an array ref' );
    is( $s->subprotocol(qw( p q ))->subprotocol->join(','), 'p,q', 'subprotocol from a list' );
    ok( !defined $s->subprotocol('bad/name'), 'a bad subprotocol name: undef' );
    is( $s->extensions('permessage-deflate; server_no_context_takeover')->extensions->length, 1, 'extensions from text' );
    is( $s->extensions( [ WebSocket::Extension->new('a'), 'b, c' ] )->extensions->length, 3, 'extensions mixed' );
    is( $s->extensions( WebSocket::HeaderValue->new( 'x', k => 1 ) )->extensions->first->param('k'), 1,
        'extensions from a HeaderValue' );
    ok( !defined $s->extensions('a; b="'), 'bad extensions: undef' );
    is( $s->version(8)->version->draft, 'draft-ietf-hybi-12', 'version from a number' );
    like( $s->as_string, qr/Sec-WebSocket-Version: 8\r\n/, '... used by as_string' );
    ok( !defined $s->version(99), 'a bad version: undef' );
    like( $s->error, qr/version/, '... error' );
    is( $s->origin('http://o.example')->origin->as_string, 'http://o.example', 'origin sets' );
    ok( !defined $s->origin(undef)->origin, 'origin removed' );
    is( $s->cookies('a=1')->header('Cookie'), 'a=1', 'cookies set' );
    is( $s->host('h.example')->host, 'h.example', 'host set' );
    is( $s->method('get')->method, 'GET', 'method set' );
    ok( !defined $s->method('BAD METHOD'), 'bad method: undef' );
    is( $s->key($RFC_KEY)->key, $RFC_KEY, 'key set' );
    is( $s->buffer('xyz')->content, 'xyz', 'buffer set' );
    is( $s->protocol('HTTP/1.1')->protocol, 'HTTP/1.1', 'protocol set' );
    is( $s->is_done(1)->is_done, 1, 'is_done set' );
    is( $s->headers( [ A => 1 ] )->header('A'), 1, 'headers from pairs' );
    ok( !defined $s->headers('x'), 'headers: a bad value' );
    ok( !defined $s->max_message_size('big'), 'max_message_size: not a number' );
    ok( !defined WebSocket::Request->new( bogus => 1 ), 'an unknown option: undef' );
    like( WebSocket::Request->error, qr/unknown option 'bogus'/, '... class error' );
    ok( !defined WebSocket::Request->new('odd'), 'an odd list: undef' );
    is( WebSocket::Request->new( debug => 4 )->debug, 4, 'debug option' );
    ok( !defined WebSocket::Request->new->as_string, 'as_string without host: undef' );

    # parse_chunk
    my $p = WebSocket::Request->new;
    my @chunks = unpack '(a40)*', $RFC_REQUEST;
    my @rc = map { $p->parse_chunk($_) } @chunks;
    is( $rc[-1], 0, 'parse_chunk: PARSE_DONE at the end' );
    is( scalar( grep { $_ == -2 } @rc ), @rc - 1, '... PARSE_WAITING before' );
    is( $p->key, $RFC_KEY, '... parsed' );
    my $big = WebSocket::Request->new( max_message_size => 10 );
    ok( !defined $big->parse_chunk( 'x' x 11 ), 'parse_chunk past max_message_size: undef' );
    ok( !defined $big->parse($RFC_REQUEST), 'parse past max_message_size: undef' );
    is( $big->error->code, -10, '... too large' );

    # \n line ends, a request without a final blank line
    ok( WebSocket::Request->new->parse( $RFC_REQUEST =~ s/\r\n/\n/gr ), 'parse with \n line ends' );
    ok( WebSocket::Request->new->parse( $RFC_REQUEST =~ s/\r\n\r\n\z//r ), 'parse without the blank line' );

    # malformed requests: undef and error, no die
    my %bad = (
        'empty'                => '',
        'not HTTP'             => "hello there\r\n\r\n",
        'two words'            => "GET /\r\nHost: x\r\n\r\n",
        'HTTP/1.0'             => $RFC_REQUEST =~ s{HTTP/1\.1}{HTTP/1.0}r,
        'POST'                 => $RFC_REQUEST =~ s{\AGET}{POST}r,
        'no Host'              => $RFC_REQUEST =~ s{Host: [^\r]*\r\n}{}r,
        'no Upgrade'           => $RFC_REQUEST =~ s{Upgrade: websocket\r\n}{}r,
        'Upgrade: h2c'         => $RFC_REQUEST =~ s{Upgrade: websocket}{Upgrade: h2c}r,
        'Connection: close'    => $RFC_REQUEST =~ s{Connection: Upgrade}{Connection: close}r,
        'a bad header line'    => $RFC_REQUEST =~ s{Origin: }{Origin }r,
        'a folded first line'  => "GET / HTTP/1.1\r\n folded\r\n\r\n",
        'bad extensions'       => $RFC_REQUEST =~ s{client_max_window_bits}{a="x}r,
    );
    for my $what ( sort keys %bad ) {
        my $req = WebSocket::Request->new;
        my $rv  = eval { $req->parse( $bad{$what} ) };
        ok( !$@, "parse of $what does not die" );
        ok( !defined $rv, "parse of $what: undef" );
        isa_ok( $req->error, 'WebSocket::Exception', "... $what error" );
        ok( !$req->is_done, "... $what not done" );
    }
    my $f = WebSocket::Request->new( fatal => 1 );
    ok( !eval { $f->parse("nonsense\r\n\r\n"); 1 }, 'fatal: parse dies' );
    is( $@->code, -7, '... with the exception' );
}

# ---------------------------------------------------------------- Response
my $RFC_RESPONSE = join "\r\n", 'HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade',
  "Sec-WebSocket-Accept: $RFC_ACCEPT", 'Sec-WebSocket-Protocol: chat', '', '';
{
    # SYNOPSIS of the CPAN distribution, without the two-key draft's numbers
    my $res = WebSocket::Response->new(
        host   => 'example.com',
        uri    => '/demo',
        origin => 'http://example.com',
        key    => $RFC_KEY,
    ) || die( WebSocket::Response->error, "\n" );
    my $text = $res->as_string;
    like( $text, qr{\AHTTP/1\.1 101 Switching Protocols\r\n}, 'as_string status line' );
    like( $text, qr{\r\nSec-WebSocket-Accept: \Q$RFC_ACCEPT\E\r\n}, '... the RFC 6455 accept' );
    like( $text, qr{\r\nUpgrade: websocket\r\n},  '... Upgrade' );
    like( $text, qr{\r\nConnection: Upgrade\r\n}, '... Connection' );
    unlike( $text, qr{Sec-WebSocket-Version}, '... no version in a 101' );
    is( $res->uri->as_string, '/demo', 'uri' );

    # Parser part of that SYNOPSIS: an answer of the two-key draft
    $res = WebSocket::Response->new;
    ok( $res->parse(<<'EOT'), 'SYNOPSIS parse (two-key draft)' ) or diag $res->error;
HTTP/1.1 101 WebSocket Protocol Handshake
Upgrade: WebSocket
Connection: Upgrade
Sec-WebSocket-Origin: file://
Sec-WebSocket-Location: ws://example.com/demo

0st3Rl&q-2ZU^weu
EOT
    is( $res->code, 101, '... code' );
    is( $res->status, 'WebSocket Protocol Handshake', '... status' );
    is( $res->message, 'WebSocket Protocol Handshake', '... message' );
    is( $res->location, 'ws://example.com/demo', '... location' );
    is( $res->uri->host, 'example.com', '... uri from the location' );
    is( $res->origin->as_string, 'file://', '... origin' );
    is( $res->body_as_string, "0st3Rl&q-2ZU^weu\n", '... body' );

    my $r = WebSocket::Response->new;
    is( $r, $r->parse($RFC_RESPONSE), 'parse the RFC 6455 answer' );
    ok( $r->is_done, 'is_done' );
    is( $r->code,   101,                   'code' );
    is( $r->status, 'Switching Protocols', 'status' );
    is( $r->protocol, 'HTTP/1.1', 'protocol' );
    is( $r->accept, $RFC_ACCEPT, 'accept' );
    is( $r->subprotocol->first, 'chat', 'subprotocol' );
    is( $r->header('Upgrade'), 'websocket', 'header' );
    is( $r->extensions->length, 0, 'no extensions' );
    isa_ok( $r->versions, 'WebSocket::Array', 'versions' );

    my $n = WebSocket::Response->new( 426, versions => '13, 8' );
    is( $n->code, 426, 'new with a code' );
    is( $n->status, 'Upgrade Required', 'default status' );
    is( $n->versions->length, 2, 'versions' );
    is( $n->version, 13, 'version is the first' );
    like( $n->as_string, qr{\AHTTP/1\.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13, 8\r\n\r\n\z}, 'a refusal' );
    my $back = WebSocket::Response->new;
    ok( $back->parse( $n->as_string ), 'parse a refusal' );
    is_deeply( [ map { $_->version } $back->versions->list ], [ 13, 8 ], '... versions' );
    is( WebSocket::Response->new( 400, 'Nope' )->status, 'Nope', 'new with code and status' );
    is( WebSocket::Response->new( 400, 'Nope', [ 'X-A' => 1 ], 'body' )->as_string,
        "HTTP/1.1 400 Nope\r\nX-A: 1\r\n\r\nbody", 'new with code, status, headers, buffer' );
    is( WebSocket::Response->new( 101, [ 'X-A' => 1 ], { key => $RFC_KEY } )->accept, $RFC_ACCEPT, 'code, headers, \%opts' );

    my $s = WebSocket::Response->new;
    is( $s->code(200)->code, 200, 'code set' );
    ok( !defined $s->code(99), 'a bad code: undef' );
    is( $s->status('Fine')->message, 'Fine', 'status set' );
    is( $s->message('Okay')->status, 'Okay', 'message set' );
    is( $s->key($RFC_KEY)->accept, $RFC_ACCEPT, 'accept computed from the key' );
    is( $s->accept('other')->accept, 'other', 'accept set' );
    is( $s->location('ws://a/b')->location, 'ws://a/b', 'location set' );
    is( $s->cookies('id=1; Path=/')->cookies->first, 'id=1; Path=/', 'cookies set and get' );
    is( $s->cookies( [ 'a=1', 'b=2' ] )->cookies->length, 2, 'cookies from an array ref' );
    like( $s->as_string, qr/Set-Cookie: a=1\r\nSet-Cookie: b=2/, '... written' );
    ok( !defined $s->versions('7, 99'), 'bad versions: undef' );
    is( $s->versions( [ 13, WebSocket::Version->new(8) ] )->versions->last, 8, 'versions from an array ref' );
    is( $s->uri('wss://x/y')->uri->path, '/y', 'uri set' );

    ok( !defined WebSocket::Response->new->as_string, 'a 101 without key: undef' );
    like( WebSocket::Response->error, qr/key/, '... error' );
    ok( !defined WebSocket::Response->new( key => $RFC_KEY, subprotocol => 'a b' )->as_string, 'two subprotocols: undef' );
    like( WebSocket::Response->new( key => $RFC_KEY, extensions => 'permessage-deflate; server_no_context_takeover' )->as_string,
        qr/\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n/, 'extensions written' );

    for my $bad ( '', "HTTP/1.1 abc Bad\r\n\r\n", "HTTP/1.1\r\n\r\n", "HTTP/1.1 101 OK\r\nno header\r\n\r\n", "hello\r\n\r\n" ) {
        my $x  = WebSocket::Response->new;
        my $rv = eval { $x->parse($bad) };
        ok( !$@ && !defined $rv && $x->error, 'a malformed answer: undef with error, no die' );
    }
}

# ---------------------------------------------------------------- Handshakes
{
    # SYNOPSIS of the CPAN distribution
    my $this = WebSocket::Handshake->new || die( WebSocket::Handshake->error, "\n" );
    isa_ok( $this->request,  'WebSocket::Request' );
    isa_ok( $this->response, 'WebSocket::Response' );
    is( $this->uri('ws://example.com/chat'), $this, 'uri sets' );
    is( $this->uri->as_string, 'ws://example.com/chat', 'uri' );
    is( $this->request->host, 'example.com', '... the request host' );
    isa_ok( $this->version, 'WebSocket::Version' );
    is( $this->version(8)->version->version, 8, 'version sets' );
    is( $this->response->version, 8, '... on the response too' );
    ok( !defined $this->version('nope'), 'a bad version: undef' );
    ok( !defined $this->request('x'), 'request: not a request' );
    ok( !defined $this->response('x'), 'response: not a response' );
    my $req = WebSocket::Request->new( host => 'x' );
    is( $this->request($req)->request, $req, 'request sets' );
    my $res = WebSocket::Response->new;
    is( $this->response($res)->response, $res, 'response sets' );
    ok( !defined WebSocket::Handshake->new( bogus => 1 ), 'unknown option: undef' );
    like( WebSocket::Handshake->error, qr/bogus/, '... class error' );
    is( WebSocket::Handshake->new( { debug => 5 } )->debug, 5, 'debug option' );

    # Client SYNOPSIS of the CPAN distribution
    my $client = WebSocket::Handshake::Client->new( uri => "ws://localhost:8181/some/where" )
      || die( WebSocket::Handshake::Client->error, "\n" );
    ok( !defined $client->key, 'no key before as_string' );
    is( $client->subprotocol('chat superchat'), $client, 'subprotocol sets' );
    is( $client->extensions('permessage-deflate; client_max_window_bits'), $client, 'extensions set' );
    is( $client->origin('http://localhost'), $client, 'origin sets' );
    is( $client->origin->as_string, 'http://localhost', 'origin' );
    is( $client->headers->header('Host'), 'localhost:8181', 'headers' );
    is( $client->subprotocol->length, 2, 'subprotocol' );
    is( $client->extensions->length, 1, 'extensions' );
    ok( !$client->is_done, 'not done' );
    ok( !defined $client->parse($RFC_RESPONSE), 'parse before the request: undef' );
    my $request = $client->as_string;
    like( $request, qr{\AGET /some/where HTTP/1\.1\r\n}, 'client request line' );
    like( $request, qr{\r\nHost: localhost:8181\r\n}, '... Host' );
    like( $request, qr{\r\nSec-WebSocket-Version: 13\r\n}, '... version 13' );
    my $key = $client->key;
    like( $key, qr{\A[A-Za-z0-9+/]{22}==\z}, '... a random key' );
    is( length MIME::Base64::decode_base64($key), 16, '... of 16 bytes' );
    is( $client->as_string, $request, 'as_string again: the same request' );
    isnt( WebSocket::Handshake::Client->new( uri => 'ws://h/' )->as_string =~ s/.*Key: (\S+).*/$1/sr,
        $key, 'another client, another key' );

    # Server side of the same exchange
    my $server = WebSocket::Handshake::Server->new || die( WebSocket::Handshake::Server->error, "\n" );
    ok( !$server->is_done, 'server not done' );
    is( $server->parse($request), $server, 'server parses the request' );
    ok( $server->is_done, 'server done' );
    is( $server->request->key, $key, '... the key' );
    is( $server->uri->as_string, 'ws://localhost:8181/some/where', '... the uri' );
    is( $server->version, 13, '... the version' );
    $server->response->subprotocol('superchat');
    $server->response->extensions('permessage-deflate; client_max_window_bits=12');
    my $answer = $server->as_string;
    my $expect = MIME::Base64::encode_base64( Digest::SHA::sha1( $key . '258EAFA5-E914-47DA-95CA-C5AB0DC85B11' ), '' );
    like( $answer, qr{\AHTTP/1\.1 101 Switching Protocols\r\n}, 'server answer: 101' );
    like( $answer, qr{\r\nSec-WebSocket-Accept: \Q$expect\E\r\n}, '... the accept of the key' );
    like( $answer, qr{\r\nSec-WebSocket-Protocol: superchat\r\n}, '... the subprotocol' );
    is( $client->parse($answer), $client, 'the client accepts it' );
    ok( $client->is_done, 'client done' );
    is( $client->response->subprotocol->first, 'superchat', '... chosen subprotocol' );
    is( $client->response->extensions->first->client_max_window_bits, 12, '... extension answer' );
    is( $client->parse('anything'), $client, 'parse after done does nothing' );

    # The RFC 6455 sample through the server
    my $rfc = WebSocket::Handshake::Server->new;
    ok( $rfc->parse($RFC_REQUEST), 'server parses the RFC request' );
    like( $rfc->as_string, qr{\r\nSec-WebSocket-Accept: \Q$RFC_ACCEPT\E\r\n}, '... s3pPLMBiTxaQ9kYGzzhZRbK+xOo=' );
    ok( $rfc->parse('again'), 'server parse after done does nothing' );

    # Answers the client refuses
    my %refuse = (
        'not 101'         => $RFC_RESPONSE =~ s/101 Switching Protocols/200 OK/r,
        'wrong accept'    => $RFC_RESPONSE,
        'no Upgrade'      => ( $answer =~ s/Upgrade: websocket\r\n//r ),
        'no Connection'   => ( $answer =~ s/Connection: Upgrade\r\n//r ),
        'subprotocol'     => ( $answer =~ s/superchat/other/r ),
        'extension'       => ( $answer =~ s/permessage-deflate/x-other/r ),
        'not HTTP'        => "nonsense\r\n\r\n",
    );
    for my $what ( sort keys %refuse ) {
        my $c = WebSocket::Handshake::Client->new( uri => 'ws://localhost:8181/some/where', subprotocol => 'chat superchat',
            extensions => 'permessage-deflate' );
        $c->request->key($key);
        $c->as_string;
        my $rv = eval { $c->parse( $refuse{$what} ) };
        ok( !$@ && !defined $rv, "client refuses an answer: $what" );
        isa_ok( $c->error, 'WebSocket::Exception', "... $what error" );
        ok( !$c->is_done, "... $what not done" );
    }

    # Requests the server refuses
    my %bad = (
        'version 8'   => $RFC_REQUEST =~ s/Version: 13/Version: 8/r,
        'no key'      => $RFC_REQUEST =~ s/Sec-WebSocket-Key: [^\r]*\r\n//r,
        'short key'   => $RFC_REQUEST =~ s/\Q$RFC_KEY\E/AAAA/r,
        'not HTTP'    => "nonsense\r\n\r\n",
        'empty'       => '',
    );
    for my $what ( sort keys %bad ) {
        my $s  = WebSocket::Handshake::Server->new;
        my $rv = eval { $s->parse( $bad{$what} ) };
        ok( !$@ && !defined $rv, "server refuses a request: $what" );
        isa_ok( $s->error, 'WebSocket::Exception', "... $what error" );
        ok( !$s->is_done, "... $what not done" );
    }
    my $v8 = WebSocket::Handshake::Server->new;
    $v8->parse( $bad{'version 8'} );
    is( $v8->response->code, 426, 'an unsupported version makes a 426' );
    like( $v8->as_string, qr/\r\nSec-WebSocket-Version: 13\r\n/, '... listing 13' );
    is( $v8->error->code, -6, '... handshake error code' );
    my $v99 = WebSocket::Handshake::Server->new;
    ok( !defined $v99->parse( $RFC_REQUEST =~ s/Version: 13/Version: 99/r ), 'an unknown version number: undef' );
    like( $v99->error, qr/\A\S[^:]*: '99' is not a WebSocket protocol version/, '... error, one prefix' );
    is( $v99->response->code, 426, '... a 426 all the same' );
    like( $v99->as_string, qr/\r\nSec-WebSocket-Version: 13\r\n/, '... listing 13' );

    # A request already read by a server (as the library hands it over)
    my $parts = WebSocket::Handshake::Server->new(
        method  => 'GET',
        path    => '/chat',
        query   => 'room=1',
        headers => [ Host => 'server.example.com', Upgrade => 'websocket', Connection => 'Upgrade',
                     'Sec-WebSocket-Key' => $RFC_KEY, 'Sec-WebSocket-Version' => 13,
                     'Sec-WebSocket-Protocol' => 'chat' ],
        peer    => '127.0.0.1:53412',
        secure  => 1,
    ) || die( WebSocket::Handshake::Server->error, "\n" );
    ok( $parts->is_done, 'from parts: done' );
    is( $parts->peer, '127.0.0.1:53412', '... peer' );
    is( $parts->uri->as_string, 'wss://server.example.com/chat?room=1', '... uri' );
    is( $parts->request->subprotocol->first, 'chat', '... subprotocol' );
    like( $parts->as_string, qr/\Q$RFC_ACCEPT\E/, '... the accept' );
    is( $parts->peer('::1')->peer, '::1', 'peer sets' );
    my @conn_headers = ( [ Host => 'h' ], [ Upgrade => 'websocket' ], [ Connection => 'Upgrade' ],
        [ 'Sec-WebSocket-Key' => $RFC_KEY ], [ 'Sec-WebSocket-Version' => 13 ] );
    my $pairs = WebSocket::Handshake::Server->new( path => '/', headers => \@conn_headers );
    ok( $pairs && $pairs->is_done, 'from [ name, value ] pairs (as WebSocket::Connection gives them)' );
    is( $pairs->request->host, 'h', '... host' );
    my $hobj = WebSocket::Handshake::Server->new( headers => HTTP::Headers->new( map {@$_} @conn_headers ) );
    ok( $hobj && $hobj->is_done, 'from an HTTP::Headers' );
    is( $hobj->uri->as_string, 'ws://h/', '... uri' );
    ok( !defined WebSocket::Handshake::Server->new( headers => [ [ 'a' ], 'b' ] ), 'bad pairs: undef' );
    ok( !defined WebSocket::Handshake::Server->new( headers => [ Host => 'x' ] ), 'from parts: refused request' );
    like( WebSocket::Handshake::Server->error, qr/Upgrade/, '... class error' );
    ok( !defined WebSocket::Handshake::Server->new( headers => [ 'odd' ] ), 'from parts: odd headers' );
    ok( !defined WebSocket::Handshake::Server->new( path => '/x' ), 'path without headers' );
    ok( !defined WebSocket::Handshake::Server->new( headers => [ "X\r\nY" => 1 ] ), 'a line break in a header' );

    # make_frame needs the library
  SKIP: {
        skip 'libwebsocket.so is not built', 4 unless eval { require WebSocket::FFI; WebSocket::FFI->can('ws_version') && WebSocket::FFI::ws_version() };
        my $cf = $client->make_frame( buffer => 'hi', debug => 1, version => 13 );
        isa_ok( $cf, 'WebSocket::Frame', 'client make_frame' );
        ok( $cf->masked, '... masked' );
        my $sf = $server->make_frame( buffer => 'hi' );
        ok( !$sf->masked, 'server make_frame unmasked' );
        is( length $sf->to_bytes, 4, '... 2 + 2 bytes' );
    }
}

# ---------------------------------------------------------------- our SYNOPSIS sections run as written
{
    my $lib = "$FindBin::Bin/../lib";
    my %expect = (
        'Base.pm'             => qr/\Aname is required\n\z/,
        'Array.pm'            => qr/\A3\noffered: chat superchat json\nfound\n0: chat\n.*\nchat \.\. json\nnone\n\z/s,
        'Version.pm'          => qr/\A13\ndraft-ietf-hybi-17\nVersion is: 13\ncurrent\ndraft-ietf-hybi-15\n\z/,
        'HeaderValue.pm'      => qr/\ASomeHeader: foo; bar=2\ntext\/html utf-8\n2\n\z/,
        'Extension.pm'        => qr/\ASec-WebSocket-Extensions: permessage-deflate; client_max_window_bits; server_no_context_takeover\npermessage-deflate 10\n\z/,
        'Headers.pm'          => qr/\Aan upgrade\r?\n/,
        'Common.pm'           => qr/\A1000 0 draft-ietf-hybi-17\nws:\/\/example\.com\/\n\z/,
        'Request.pm'          => qr/\AGET \/demo HTTP\/1\.1\r\n.*\r\n\r\nws:\/\/server\.example\.com\/chat\nchat superchat\n\z/s,
        'Response.pm'         => qr/\Q$RFC_ACCEPT\E\r\n.*\n101 Switching Protocols \Q$RFC_ACCEPT\E\nHTTP\/1\.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n\r\n\z/s,
        'Handshake.pm'        => qr/\Aexample\.com 13\n\z/,
        'Handshake/Client.pm' => qr/\Aopen with chat\n\z/,
        'Handshake/Server.pm' => qr/\AHTTP\/1\.1 101 Switching Protocols\r\n.*\Q$RFC_ACCEPT\E.*\nws:\/\/example\.com\/chat\?room=1 from 127\.0\.0\.1:53412\n\z/s,
    );
    for my $module ( sort keys %expect ) {
        open my $fh, '<', "$lib/WebSocket/$module" or die "$module: $!";
        my $pod = do { local $/; <$fh> };
        my ($code) = $pod =~ /^=head1 SYNOPSIS\n(.*?)^=head1/ms or die "no SYNOPSIS in $module";
        $code =~ s/^    //mg;
        my $tmp = File::Temp->new( SUFFIX => '.pl' );
        print $tmp $code;
        close $tmp;
        my $got = `'$^X' '-I$lib' '$tmp' 2>&1`;
        my $rc  = $? >> 8;
        is( $rc, 0, "WebSocket/$module SYNOPSIS runs" ) or diag $got;
        like( $got, $expect{$module}, '... and prints what it says' );
    }
}

done_testing;

// whisk.system/utils/sort: sorts `lines` (JavaScript's default order, as
// the catalog's action does) and returns them with their `length`.
function main(msg) {
    const lines = msg.lines || [];
    console.log('sort before: ' + lines);
    lines.sort();
    console.log('sort after: ' + lines);
    return {lines: lines, length: lines.length};
}

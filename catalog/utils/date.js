// whisk.system/utils/date: the current date and time, ISO 8601 (a Date
// serialises so), as openwhisk-catalog utils/date.
function main() {
    const now = new Date();
    console.log('It is now ' + now);
    return {date: now};
}
